"""WAV-file adapters, conversion and earcons."""

import threading
import time
import wave

import numpy as np
import pytest
from doubles import dominant_frequency, tone

from appliance.audio import earcons
from appliance.audio.convert import FrameChunker, StreamResampler, apply_volume, to_mono_float
from appliance.audio.wavfile import WavMicrophone, WavSpeaker, read_wav, write_wav
from appliance.cancel import CancelToken
from appliance.ports import FRAME_SAMPLES


@pytest.mark.parametrize(
    "rate,channels,width", [(48000, 2, 2), (44100, 1, 2), (8000, 1, 1), (22050, 2, 3), (16000, 1, 4)]
)
def test_wav_microphone_converts_any_format_to_16k_mono_frames(tmp_path, rate, channels, width):
    x = tone(440, 1.0, rate).astype(np.float64) / 32768
    if width == 1:
        data = (x * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        data = (x * 32767).astype("<i2").tobytes()
    elif width == 3:
        ints = (x * 8388607).astype(np.int32)
        data = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in ints)
    else:
        data = (x * 2147483647).astype("<i4").tobytes()
    if channels == 2:
        sample = width
        frames = [data[i : i + sample] for i in range(0, len(data), sample)]
        data = b"".join(f + f for f in frames)
    path = tmp_path / "in.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    mic = WavMicrophone(path, pace=0)
    frames = list(mic.frames())
    assert all(f.dtype == np.int16 and f.shape == (FRAME_SAMPLES,) for f in frames)
    audio = np.concatenate(frames)
    assert len(audio) == pytest.approx(16000, abs=FRAME_SAMPLES)
    assert dominant_frequency(audio[2000:14000], 16000) == pytest.approx(440, abs=5)
    assert 0.3 < np.abs(audio[2000:14000]).max() / 32767 < 0.6


def test_wav_microphone_paces_at_real_time(tmp_path):
    path = tmp_path / "in.wav"
    write_wav(path, tone(300, 0.8, 16000), 16000)
    start = time.monotonic()
    frames = list(WavMicrophone(path, pace=1.0).frames())
    elapsed = time.monotonic() - start
    assert len(frames) == 10
    assert elapsed >= 9 * 0.08 * 0.95  # the 10th frame is due at 0.72 s


def test_wav_microphone_close_stops_the_stream(tmp_path):
    path = tmp_path / "in.wav"
    write_wav(path, tone(300, 5.0, 16000), 16000)
    mic = WavMicrophone(path, pace=1.0)
    frames = mic.frames()
    next(frames)
    threading.Timer(0.1, mic.close).start()
    assert len(list(frames)) < 10


def test_wav_speaker_writes_what_was_played_at_its_rate(tmp_path):
    path = tmp_path / "out.wav"
    speaker = WavSpeaker(path, rate=24000, pace=0)
    assert speaker.play(tone(500, 0.5, 16000), 16000)
    assert speaker.play(tone(700, 0.5, 24000), 24000)
    speaker.close()
    samples, rate = read_wav(path)
    assert rate == 24000
    assert len(samples) == pytest.approx(24000, abs=200)
    assert dominant_frequency(samples[1000:11000], 24000) == pytest.approx(500, abs=5)
    assert dominant_frequency(samples[13000:23000], 24000) == pytest.approx(700, abs=5)


def test_wav_speaker_cancel_stops_mid_buffer(tmp_path):
    path = tmp_path / "out.wav"
    speaker = WavSpeaker(path, rate=16000, pace=1.0, block_ms=20)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    start = time.monotonic()
    finished = speaker.play(tone(440, 3.0, 16000), 16000, cancel)
    stopped_after = time.monotonic() - start
    speaker.close()
    assert finished is False
    assert stopped_after < 1.0
    samples, _ = read_wav(path)
    assert len(samples) / 16000 < 0.5  # only what was heard before the cancel (plus one block)


def test_stream_resampler_has_no_clicks_at_chunk_boundaries():
    x = tone(440, 1.0, 24000).astype(np.float32) / 32768
    whole = StreamResampler(24000, 48000).process(x, last=True)
    r = StreamResampler(24000, 48000)
    pieces = [r.process(x[i : i + 997]) for i in range(0, len(x), 997)] + [
        r.process(np.zeros(0, np.float32), last=True)
    ]
    chunked = np.concatenate(pieces)
    n = min(len(whole), len(chunked))
    assert abs(len(whole) - len(chunked)) < 64
    assert np.max(np.abs(np.diff(chunked[200 : n - 200]))) < 0.05  # a 440 Hz sine at 48 kHz moves < 0.03/sample


def test_frame_chunker_and_mono_mixdown():
    chunker = FrameChunker(4)
    assert chunker.push(np.arange(6, dtype=np.int16))[0].tolist() == [0, 1, 2, 3]
    assert chunker.flush().tolist() == [4, 5, 0, 0]
    stereo = np.array([1000, 3000, -1000, -3000], dtype="<i2").tobytes()
    assert to_mono_float(stereo, 2, 2).tolist() == pytest.approx([2000 / 32768, -2000 / 32768])


def test_earcons_are_short_click_free_and_distinct():
    for make in (earcons.chime, earcons.error_tone, earcons.offline_tone, lambda: earcons.mute_tone(True)):
        pcm, rate = make()
        assert pcm.dtype == np.int16 and 0.05 < len(pcm) / rate < 0.6
        assert abs(int(pcm[0])) < 500 and abs(int(pcm[-1])) < 500  # faded in and out
    chime, rate = earcons.chime()
    error, _ = earcons.error_tone()
    assert dominant_frequency(chime, rate) > dominant_frequency(error, rate)


def test_volume_scales_samples():
    x = np.full(10, 10000, dtype=np.int16)
    assert apply_volume(x, 1.0).tolist() == x.tolist()
    assert apply_volume(x, 0.5)[0] == 2500
    assert apply_volume(x, 0.0)[0] == 0
