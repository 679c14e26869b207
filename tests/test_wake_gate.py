"""The energy gate in front of openWakeWord: after long silence (or steady noise) the model sleeps, and a
wake word said at the very onset of speech is still found, because the buffered audio is replayed to the
model first. Real models, real synthesized speech."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config.settings import WakeSettings
from appliance.ports import FRAME_SAMPLES, WakeHit
from appliance.wake.gate import EnergyGate, GatedWakeDetector, GateSettings
from appliance.wake.oww import OpenWakeWordDetector
from standin.voice import noise, synth
from standin.wakeset import pink_noise

pytestmark = pytest.mark.slow  # synthesized speech through the real wake-word model


def frames(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def hits(detector, audio: np.ndarray) -> list[tuple[int, WakeHit]]:
    detector.reset()
    return [(i, h) for i, f in enumerate(frames(audio)) if (h := detector.process(f)) is not None]


@pytest.fixture(scope="module")
def oww():
    return OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0))


# the wake word begins at the first voiced sample: no lead-in, after 20 s of a quiet room
ONSETS = [
    ("piper", 0.8, 0.0),
    ("piper", 1.0, 0.0),
    ("piper", 1.25, 0.0),
    ("piper", 1.0, -20.0),
    ("piper", 1.0, -30.0),
    ("espeak", 1.0, 0.0),
]


def onset_clip(voice: str, speed: float, gain_db: float, floor: np.ndarray) -> np.ndarray:
    word = synth("hey jarvis", voice=voice, speed=speed, gain_db=gain_db)
    start = int(np.flatnonzero(np.abs(word) > 100)[0])  # synthesizers pad with silence: cut it
    word = word[start:].astype(np.int32)
    body = floor[-len(word) - 16000 :].astype(np.int32).copy()
    body[: len(word)] += word
    return np.clip(np.concatenate([floor[: -len(word) - 16000].astype(np.int32), body]), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("voice,speed,gain_db", ONSETS)
def test_a_wake_word_at_speech_onset_after_long_silence_is_found_as_without_the_gate(oww, voice, speed, gain_db):
    floor = noise(21.0, -60.0, seed=5)
    audio = onset_clip(voice, speed, gain_db, floor)
    plain = hits(oww, audio)
    gated_detector = GatedWakeDetector(oww)
    gated = hits(gated_detector, audio)
    if voice == "piper":
        assert plain, "the model itself must find piper's wake word"
    assert [round(h.score, 3) for _, h in gated] == [round(h.score, 3) for _, h in plain]
    assert [i for i, _ in gated] == [i for i, _ in plain]  # found on the same frame
    word_frames = (len(audio) - len(floor) + 16000 + len(synth("hey jarvis", voice=voice, speed=speed))) // 1280
    ring = 25  # 2 s replayed when the gate opens
    assert gated_detector.frames_run <= ring + word_frames + 2  # the model slept through the silence


def test_the_gate_learns_steady_noise_and_still_opens_for_a_wake_word_at_5_db_snr(oww):
    word = synth("hey jarvis", speed=1.0).astype(np.float64)
    rms = float(np.sqrt(np.mean(word[np.abs(word) > 300] ** 2)))
    background = pink_noise(16000 * 25, rms / 10 ** (5 / 20), seed=9)
    at = 16000 * 22
    mix = background.copy()
    mix[at : at + len(word)] += word
    audio = np.clip(np.round(mix), -32768, 32767).astype(np.int16)
    gated_detector = GatedWakeDetector(oww)
    gated = hits(gated_detector, audio)
    plain = hits(oww, audio)
    assert [i for i, _ in gated] == [i for i, _ in plain]
    # after a few seconds of steady noise the model sleeps: it ran on little more than the wake word's window
    assert gated_detector.frames_run < 0.5 * gated_detector.frames_seen


def test_gate_is_pure_audio_time_logic():
    gate = EnergyGate(GateSettings(hangover_seconds=0.4))
    quiet, loud = noise(0.08, -65.0), noise(0.08, -30.0, seed=1)
    assert not any(gate.update(quiet) for _ in range(50))
    assert gate.update(loud)
    assert [gate.update(quiet) for _ in range(6)] == [True] * 5 + [False]  # 0.4 s of hangover


def test_forced_open_runs_the_model_on_every_frame_and_reset_clears_the_ring(oww):
    gated = GatedWakeDetector(oww)
    gated.forced_open = True
    for f in frames(noise(1.0, -65.0)):
        gated.process(f)
    assert gated.frames_run == gated.frames_seen
    assert set(gated.last_scores) == {"hey_jarvis"} and gated.last_scores == oww.last_scores
    gated.reset()
    assert not gated.is_open
    assert gated.last_scores == {}  # asleep: no score of the last frame (household.heard_too_score reads them)
