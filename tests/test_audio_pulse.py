"""The PyAudio adapters against a real PulseAudio server (null sinks; no sound card needed)."""

import gc
import threading
import time

import numpy as np
import pytest
from doubles import dominant_frequency, tone

from appliance.audio.pyaudio_io import PyAudioMicrophone, PyAudioSpeaker
from appliance.audio.wavfile import read_wav, write_wav
from appliance.cancel import CancelToken
from appliance.errors import ApplianceError

pytestmark = pytest.mark.pulse


def test_microphone_hears_what_is_played_into_it_as_16k_mono(pulse, tmp_path):
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1000, 2.0, 44100), 44100)
    mic = PyAudioMicrophone("")
    try:
        assert mic.rate > 0
        frames = mic.frames()
        player = pulse.play_into_mic(wav)
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frame = next(frames)
            assert frame.dtype == np.int16 and frame.shape == (1280,)
            got.append(frame)
            if len(got) > 5 and np.abs(np.concatenate(got[-5:])).max() > 3000:
                break
        for _ in range(6):
            got.append(next(frames))
        player.wait(10)
    finally:
        mic.close()
    heard = np.concatenate(got[-6:])
    assert np.abs(heard).max() > 3000, "the tone played into the mic was not heard"
    assert dominant_frequency(heard, 16000) == pytest.approx(1000, abs=15)


def test_speaker_plays_on_the_sink_gaplessly(pulse, tmp_path):
    recording = tmp_path / "rec.wav"
    recorder = pulse.record(recording)
    speaker = PyAudioSpeaker("")
    # On PulseAudio the sink takes what is written almost at once, so a writer held up for ~30 ms leaves a
    # gap whatever the buffer size (measured here: a 40 ms stall gave a 37 ms gap at 20, 40 and 80 ms
    # blocks). A full collection of this test process's heap (~100k objects after the tests before it) took
    # up to 56 ms here: the likeliest cause of the 10 ms gap this test once found in CI (not reproduced in 67
    # runs). The test is about the adapter (block splitting, the resampler across play() calls), so the
    # collector stays off while it plays.
    gc.collect()
    gc.disable()
    try:
        time.sleep(0.3)  # let parec connect before the sound starts (it only records from when it connects)
        assert speaker.play(tone(600, 0.6, 24000), 24000)
        assert speaker.play(tone(600, 0.6, 24000)[: 24000 * 6 // 10], 24000)
        speaker.drain()
        time.sleep(0.3)
    finally:
        gc.enable()
        speaker.close()
        recorder.terminate()
        recorder.wait(5)
    samples, rate = read_wav(recording)
    loud = np.flatnonzero(np.abs(samples) > 0.2)
    assert len(loud), "nothing was played on the sink"
    played = samples[loud[0] : loud[-1]]
    # 1.2 s were played; the monitor source may miss a few tens of ms at the very start
    assert 1.05 < len(played) / rate < 1.3
    assert dominant_frequency(played, rate) == pytest.approx(600, abs=10)
    # gapless: no run of near-silence inside the sound longer than 5 ms
    quiet = np.abs(played) < 0.02
    longest, run = 0, 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    assert longest < rate * 0.005


def test_speaker_cancel_returns_within_200ms(pulse):
    speaker = PyAudioSpeaker("")
    cancel = CancelToken()
    try:
        timer = threading.Timer(0.3, cancel.cancel)
        timer.start()
        start = time.monotonic()
        finished = speaker.play(tone(300, 5.0, 24000), 24000, cancel)
        returned = time.monotonic() - start
    finally:
        speaker.close()
    assert finished is False
    assert returned < 0.3 + 0.2


def test_unknown_device_is_a_clear_error(pulse):
    with pytest.raises(ApplianceError) as info:
        PyAudioSpeaker("no-such-device-xyz")
    assert "no-such-device-xyz" in str(info.value) and "have:" in str(info.value)
