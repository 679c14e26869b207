"""Barge-in over the appliance's own voice (appliance/wake/barge_in.py), offline: the real wake-word model
on piper's speech, the echo made here (the answer delayed and attenuated into the microphone), the reference
being the answer itself. The same path on the real sound server is tests/test_echo_pulse.py."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from appliance.config.settings import WakeSettings, load
from appliance.events import EventBus
from appliance.host.wiring import RunOptions, build
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, TappedMicrophone, WakeHit
from appliance.wake.barge_in import OWN_VOICE_SCORE, VETO_SECONDS, BargeInDetector, OwnVoiceVeto
from appliance.wake.oww import OpenWakeWordDetector
from standin.voice import synth, write_wav

ANSWER = "The forecast for tomorrow is mostly sunny with a few clouds and a light wind from the west."
SAYS_THE_WAKE_WORD = "You can wake me by saying hey Jarvis. Hey Jarvis works from across the room."


def test_an_own_voice_score_vetoes_for_its_window_then_expires():
    veto = OwnVoiceVeto()
    for _ in range(10):
        veto.heard(OWN_VOICE_SCORE / 2)
    assert not veto.vetoes()
    veto.heard(0.9)
    frames = round(VETO_SECONDS / FRAME_SECONDS)
    for _ in range(frames - 1):
        assert veto.vetoes()
        veto.heard(0.0)
    veto.heard(0.0)
    assert not veto.vetoes()
    veto.heard(0.5)
    veto.clear()
    assert not veto.vetoes()


@pytest.fixture(scope="module")
def detectors():
    settings = WakeSettings(refractory_seconds=2.0)
    return [OpenWakeWordDetector(settings, seed=0) for _ in range(2)]


def echo_of(answer: np.ndarray, seconds: float, delay: float = 0.12, gain_db: float = -12.0) -> np.ndarray:
    """The microphone's audio: the answer's echo (late and quieter) over a seeded noise floor."""
    mic = np.random.default_rng(3).normal(0, 30, int(seconds * SAMPLE_RATE))
    lag = int(delay * SAMPLE_RATE)
    n = min(len(answer), len(mic) - lag)
    mic[lag : lag + n] += answer[:n] * 10 ** (gain_db / 20)
    return mic


def feed(barge_in: BargeInDetector, mic: np.ndarray, reference: np.ndarray) -> list[float]:
    """Seconds at which it woke."""
    barge_in.pause()  # a new stretch of the appliance's sound
    reference = np.pad(reference, (0, max(0, len(mic) - len(reference))))
    hits = []
    for i in range(len(mic) // FRAME_SAMPLES):
        frame = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        raw = np.clip(mic[frame], -32768, 32767).astype(np.int16)
        if barge_in.process(raw, reference[frame].astype(np.int16)) is not None:
            hits.append((i + 1) * FRAME_SECONDS)
    return hits


def test_the_user_saying_the_wake_word_over_the_answer_is_heard(detectors):
    answer = synth(ANSWER)
    barge_in = BargeInDetector(*detectors)
    mic = echo_of(answer, len(answer) / SAMPLE_RATE)
    user = synth("hey jarvis", gain_db=-6.0)
    at = int(2.0 * SAMPLE_RATE)
    mic[at : at + len(user)] += user
    hits = feed(barge_in, mic, answer)
    assert hits and 2.0 < hits[0] < 2.0 + len(user) / SAMPLE_RATE + 0.5
    assert barge_in.vetoed == 0


def test_its_own_voice_saying_the_wake_word_is_vetoed(detectors):
    answer = synth(SAYS_THE_WAKE_WORD)
    seconds = len(answer) / SAMPLE_RATE + 1.0
    mic = echo_of(answer, seconds, gain_db=-6.0)
    barge_in = BargeInDetector(*detectors)
    assert feed(barge_in, mic, answer) == []
    assert barge_in.vetoed >= 1  # the microphone heard "hey Jarvis": it was the appliance's own
    # the control: with nothing played as the reference, the same microphone wakes
    assert feed(BargeInDetector(*detectors), mic, np.zeros(0, np.int16))


def test_a_wake_on_the_front_ends_frames_is_vetoed_while_it_says_the_wake_word(detectors):
    """For when the canceller lets an echo through: the front end's verdict passes the same veto."""
    barge_in = BargeInDetector(*detectors)
    answer = np.concatenate([synth(SAYS_THE_WAKE_WORD), np.zeros(3 * SAMPLE_RATE, np.int16)])  # and a pause
    quiet = np.zeros(FRAME_SAMPLES, np.int16)
    passed, vetoed = [], []
    for i in range(len(answer) // FRAME_SAMPLES):
        reference = answer[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
        echo_hit = WakeHit("hey_jarvis", 0.99)  # as if every front-end frame woke it
        (vetoed if barge_in.process(quiet, reference, echo_hit) is None else passed).append(i)
    assert passed and vetoed  # before the answer says "hey Jarvis" a wake is the user's; then it is its own
    assert max(passed) > max(vetoed)  # and the veto ends with its window
    assert barge_in.vetoed == len(vetoed)


def test_a_new_stretch_of_sound_starts_afresh(detectors):
    barge_in = BargeInDetector(*detectors)
    answer = synth(SAYS_THE_WAKE_WORD)
    feed(barge_in, echo_of(answer, len(answer) / SAMPLE_RATE + 1.0, gain_db=-6.0), answer)
    barge_in.veto.heard(0.9)  # as if the answer had just said it
    barge_in.pause()
    quiet = np.zeros(FRAME_SAMPLES, np.int16)
    barge_in.process(quiet, quiet)
    assert not barge_in.veto.vetoes()  # what vetoed the last answer does not veto the next one
    assert all(score < 0.1 for score in barge_in.microphone.last_scores.values())  # nor its audio wakes it


@pytest.mark.parametrize(
    ("config", "front_end", "wired"),
    [
        ("[frontend]\nenabled = true\n", True, True),
        ("[frontend]\nenabled = true\nbarge_in = false\n", True, False),
        ("", False, False),
    ],
    ids=["front-end-on", "barge-in-off", "front-end-off"],
)
def test_the_wiring_gives_the_barge_in_its_taps_only_with_the_echo_canceller(
    tmp_path, monkeypatch, config, front_end, wired
):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    (tmp_path / "config.toml").write_text(config)
    mic = tmp_path / "mic.wav"
    write_wav(mic, np.zeros(SAMPLE_RATE, np.int16))
    settings = load(tmp_path / "config.toml", env={})
    _app, ports = build(settings, RunOptions(mic=str(mic), speaker=str(tmp_path / "out.wav")), EventBus())
    try:
        assert isinstance(ports.barge_in, BargeInDetector) is wired
        assert isinstance(ports.microphone, TappedMicrophone) is front_end
        assert ports.echo_cancelled is front_end
        if wired:
            assert isinstance(ports.barge_in, BargeInDetector)
            assert ports.barge_in.microphone is not ports.barge_in.reference is not ports.wake
    finally:
        for close in ports.closers:
            close()


@pytest.mark.parametrize("damaged", [False, True], ids=["stored", "damaged"])
def test_the_barge_in_listener_uses_the_stored_verifier_and_the_log_says_so_once(
    tmp_path, monkeypatch, caplog, damaged
):
    """Its detector on the raw microphone gets the enrolled verifier too (it was trained on raw audio); the
    journal tells of the verifier, or of a damaged file, once, not once per detector."""
    from appliance.wake import verifier

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    state = tmp_path / "state"
    path = verifier.verifier_path(state)
    if damaged:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"garbage")
    else:
        n = 16 * 96  # hey_jarvis reads 16 embeddings
        zeros = np.zeros(n)
        stored = verifier.LinearVerifier("hey_jarvis", zeros, np.ones(n), zeros, 0.0, takes=4, negatives="prompt")
        verifier.save(path, [stored])
    (tmp_path / "config.toml").write_text("[frontend]\nenabled = true\n")
    mic = tmp_path / "mic.wav"
    write_wav(mic, np.zeros(SAMPLE_RATE, np.int16))
    settings = load(tmp_path / "config.toml", env={})
    options = RunOptions(mic=str(mic), speaker=str(tmp_path / "out.wav"), state_dir=str(state))
    with caplog.at_level(logging.DEBUG, logger="appliance"):
        _app, ports = build(settings, options, EventBus())
    try:
        assert isinstance(ports.barge_in, BargeInDetector)
        assert ports.barge_in.reference.verified == []  # its own voice is judged by the plain model
        said = [r for r in caplog.records if r.levelno >= logging.INFO and "wake verifier" in r.getMessage()]
        if damaged:
            assert ports.barge_in.microphone.verified == [] and ports.wake.inner.verified == []
            assert [r.levelno for r in said] == [logging.ERROR] and "wake verifier ignored" in said[0].getMessage()
        else:
            assert ports.barge_in.microphone.verified == ["hey_jarvis"] == ports.wake.inner.verified
            assert len(said) == 1 and "wake verifier enrolled for hey_jarvis (4 takes" in said[0].getMessage()
    finally:
        for close in ports.closers:
            close()
