"""WAV input through libsndfile: every integer and float encoding, WAVE_FORMAT_EXTENSIBLE, any rate and
channel count, each file written by soundfile itself; a file that is not audio is one line and exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from appliance.audio.wavfile import AudioFileError, WavMicrophone, read_wav
from appliance.host.cli import main
from appliance.ports import FRAME_SAMPLES

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


def sine(freq: float, seconds: float, rate: int, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (1.0 if c == 0 else 0.5) for c in range(channels)], axis=1)


def dominant(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("subtype", SUBTYPES)
@pytest.mark.parametrize(
    "fmt,rate,channels", [("WAV", 48000, 2), ("WAV", 11025, 1), ("WAVEX", 44100, 6), ("WAVEX", 16000, 1)]
)
def test_every_encoding_becomes_16k_mono_int16_frames(tmp_path, subtype, fmt, rate, channels):
    path = tmp_path / "in.wav"
    sf.write(path, sine(440, 1.0, rate, channels), rate, subtype=subtype, format=fmt)
    info = sf.info(path)
    assert (info.subtype, info.format, info.channels) == (subtype, fmt, channels)
    mic = WavMicrophone(path, pace=0)
    assert mic.duration == pytest.approx(1.0, abs=1e-3)
    frames = list(mic.frames())
    assert all(f.dtype == np.int16 and f.shape == (FRAME_SAMPLES,) for f in frames)
    audio = np.concatenate(frames).astype(np.float64) / 32768
    assert len(audio) == pytest.approx(16000, abs=FRAME_SAMPLES)
    middle = audio[2000:14000]
    assert dominant(middle, 16000) == pytest.approx(440, abs=5)
    expected = 0.5 * (1 + 0.5 * (channels - 1)) / channels  # the channel mean
    assert np.abs(middle).max() == pytest.approx(expected, rel=0.03)
    samples, got_rate = read_wav(path)
    assert got_rate == rate and samples.dtype == np.float32 and samples.ndim == 1


@pytest.mark.parametrize("content", [b"", b"hello, not audio\n", b"RIFF\x10\x00\x00\x00WAVEjunk", bytes(range(256))])
def test_a_file_that_is_not_audio_is_one_clear_error(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as caught:
        WavMicrophone(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    with pytest.raises(AudioFileError):
        read_wav(path)


def test_cli_mic_that_is_not_audio_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes\n")
    assert main(["run", "--mic", str(path), "--pace", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "Traceback" not in err[0], err
