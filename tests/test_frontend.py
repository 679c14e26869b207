"""The audio front end on real speech: the reference buffer's alignment on the microphone's clock, WebRTC's
echo cancellation on a simulated echo path (delay + room response), each stage switched by settings, and the
pass-through when the livekit wheel cannot be imported."""

from __future__ import annotations

import logging
import sys
import threading

import numpy as np
import pytest

from appliance.config.frontend import FrontEndSettings
from appliance.frontend.base import PassThroughFrontEnd, make_frontend
from appliance.frontend.reference import ReferenceBuffer, ReferenceSpeaker
from appliance.ports import FRAME_SAMPLES
from standin.voice import noise, synth

ANSWER = "The weather today is sunny with a light breeze and a high of twenty degrees. Enjoy your afternoon."


def frames(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def echo_of(far: np.ndarray, delay_s: float = 0.06, gain: float = 0.3, seed: int = 0) -> np.ndarray:
    """What a microphone next to the speaker hears: delayed, attenuated, through a short decaying room
    response, over a -60 dBFS floor."""
    rng = np.random.default_rng(seed)
    taps = np.exp(-np.arange(800) / 150.0) * rng.normal(0, 1, 800)
    taps[0] = 4.0
    taps *= gain / np.abs(taps).sum() * 4
    d = round(delay_s * 16000)
    out = np.convolve(np.concatenate([np.zeros(d), far.astype(np.float64)]), taps)[: len(far)]
    return np.clip(out + noise(len(far) / 16000, -60.0, seed=seed), -32768, 32767).astype(np.int16)


def energy(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) + 1e-9


def test_reference_is_anchored_at_the_microphone_clock_and_continuous_playback_appends():
    buf = ReferenceBuffer()
    assert not buf.active() and not buf.take(160).any()  # nothing played: silence
    buf.push(np.arange(1, 321, dtype=np.int16), 16000)  # anchored where the microphone is now (sample 160)
    buf.push(np.arange(321, 401, dtype=np.int16), 16000)  # appended right after, not re-anchored
    assert buf.active()
    assert list(buf.take(200)) == list(range(1, 201))
    rest = buf.take(300)
    assert list(rest[:200]) == list(range(201, 401)) and not rest[200:].any()
    assert not buf.active()
    buf.push(np.full(160, 7, np.int16), 16000)  # after a gap: anchored at the microphone again
    assert (buf.take(160) == 7).all()


def test_reference_is_resampled_from_the_speaker_rate_and_cleared_on_cancel():
    buf = ReferenceBuffer()
    tone = (np.sin(2 * np.pi * 440 * np.arange(24000) / 24000) * 8000).astype(np.int16)  # 1 s at 24 kHz
    buf.push(tone, 24000)
    got = buf.take(16000)
    spectrum = np.abs(np.fft.rfft(got[2000:14000].astype(np.float64)))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 3
    buf.push(tone, 24000)
    buf.clear()
    assert not buf.active() and not buf.take(1600).any()


def test_reference_buffer_is_thread_safe_under_concurrent_push_and_take():
    buf = ReferenceBuffer()
    done = threading.Event()
    pushed = []

    def speaker():
        for i in range(400):
            block = np.full(640, i % 100 + 1, np.int16)
            buf.push(block, 16000)
            pushed.append(block)
        done.set()

    t = threading.Thread(target=speaker)
    t.start()
    taken = []
    while not done.is_set() or buf.active():
        taken.append(buf.take(160))
    t.join(5)
    out = np.concatenate(taken)
    nonzero = out[out != 0]
    # every sample that was played is taken exactly once and in order, whatever the interleaving
    assert len(nonzero) == 400 * 640
    assert (np.diff(nonzero.astype(np.int32)) % 100 <= 1).all()


class _RecordingSpeaker:
    def __init__(self, result: bool) -> None:
        self.result, self.played = result, []
        self.rate = 48000

    def play(self, pcm, rate, cancel=None):
        self.played.append((len(pcm), rate))
        return self.result

    def drain(self):
        pass

    def close(self):
        pass


def test_reference_speaker_feeds_the_buffer_and_takes_back_a_cancelled_sound():
    buf = ReferenceBuffer()
    speaker = ReferenceSpeaker(_RecordingSpeaker(True), buf)
    assert speaker.play(np.full(1600, 100, np.int16), 16000)
    assert buf.active()
    cancelled = ReferenceSpeaker(_RecordingSpeaker(False), buf)
    assert not cancelled.play(np.full(1600, 100, np.int16), 16000)
    assert not buf.active()


@pytest.fixture(scope="module")
def answer() -> np.ndarray:
    far = synth(ANSWER)
    return far[: len(far) // FRAME_SAMPLES * FRAME_SAMPLES]


def run(settings: FrontEndSettings, far: np.ndarray, mic: np.ndarray) -> np.ndarray:
    fe = make_frontend(settings)
    out = []
    for i, frame in enumerate(frames(mic)):
        fe.reference(far[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES], 16000)  # played as the mic hears it
        out.append(fe.process(frame))
    return np.concatenate(out)


def test_echo_cancellation_removes_the_speakers_voice_from_the_microphone(answer):
    mic = echo_of(answer)
    on = run(FrontEndSettings(enabled=True, noise_suppression=False, high_pass=False), answer, mic)
    off = run(FrontEndSettings(enabled=False), answer, mic)
    assert np.array_equal(off, mic)
    half = len(mic) // 2  # after the canceller has converged
    erle = 10 * np.log10(energy(mic[half:]) / energy(on[half:]))
    assert erle > 12.0, f"ERLE {erle:.1f} dB"


def test_echo_cancellation_keeps_the_users_voice_while_the_appliance_speaks(answer):
    user = synth("hey jarvis", voice="piper")
    mic = echo_of(answer).astype(np.int32)
    at = len(mic) // 2
    mic[at : at + len(user)] += user
    mic16 = np.clip(mic, -32768, 32767).astype(np.int16)
    out = run(FrontEndSettings(enabled=True), answer, mic16)
    kept = 10 * np.log10(energy(out[at : at + len(user)]) / energy(user))
    assert kept > -6.0, f"the user's voice lost {-kept:.1f} dB"


def test_each_stage_is_switched_by_settings():
    rng = np.random.default_rng(3)
    hum = (3000 * np.sin(2 * np.pi * 30 * np.arange(48000) / 16000) + rng.normal(0, 300, 48000)).astype(np.int16)
    silent_far = np.zeros_like(hum)
    hp = run(
        FrontEndSettings(enabled=True, echo_cancellation=False, noise_suppression=False, high_pass=True),
        silent_far,
        hum,
    )
    none = run(
        FrontEndSettings(
            enabled=True, echo_cancellation=False, noise_suppression=False, high_pass=False, auto_gain=False
        ),
        silent_far,
        hum,
    )
    assert energy(hp[16000:]) < 0.2 * energy(hum[16000:])  # 30 Hz rumble removed
    assert np.array_equal(none, hum[: len(none)])  # every stage off = pass-through
    steady = noise(3.0, -35.0, seed=4)
    ns = run(FrontEndSettings(enabled=True, echo_cancellation=False, high_pass=False), np.zeros_like(steady), steady)
    assert energy(ns[16000:]) < 0.3 * energy(steady[16000:])  # stationary noise suppressed


def test_quiet_frames_skip_the_processing_while_nothing_plays():
    fe = make_frontend(FrontEndSettings(enabled=True))
    quiet = noise(1.0, -65.0)
    for frame in frames(quiet):
        assert fe.process(frame) is frame
    assert fe.bypassed == len(frames(quiet))


def test_without_the_livekit_wheel_the_front_end_passes_through_and_says_so_once(monkeypatch, caplog):
    import appliance.frontend.base as base

    monkeypatch.setitem(sys.modules, "livekit", None)  # import livekit → ImportError
    monkeypatch.delitem(sys.modules, "appliance.frontend.webrtc", raising=False)
    monkeypatch.setattr(base, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="appliance.frontend.base"):
        first = make_frontend(FrontEndSettings(enabled=True))
        second = make_frontend(FrontEndSettings(enabled=True))
    assert isinstance(first, PassThroughFrontEnd) and isinstance(second, PassThroughFrontEnd)
    assert len([r for r in caplog.records if "front end off" in r.message]) == 1
    frame = noise(0.08, -30.0)
    assert np.array_equal(first.process(frame), frame)


def test_frames_must_be_80_ms_of_int16():
    fe = make_frontend(FrontEndSettings(enabled=True))
    with pytest.raises(ValueError):
        fe.process(np.zeros(160, np.int16))
