"""Endpointing: the pure segmenter with time passed in, and Silero VAD + segmenter on real speech."""

from __future__ import annotations

import numpy as np
import pytest
from speech import concat, noise, silence, synth

from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS
from appliance.wake.followup import expects_reply
from appliance.wake.preroll import Preroll
from appliance.wake.segmenter import Outcome, Segmenter
from appliance.wake.vad import SileroVad


def feed(segmenter, pattern, step=0.08):
    """pattern: a string of 'S' (speech) and '.' (silence), one character per step. Returns (outcome, t)."""
    for i, c in enumerate(pattern):
        outcome = segmenter.process(c == "S", step)
        if outcome != Outcome.CONTINUE:
            return outcome, round((i + 1) * step, 3)
    return Outcome.CONTINUE, round(len(pattern) * step, 3)


def test_trailing_silence_ends_the_recording():
    s = Segmenter(trailing_silence=0.7, start_timeout=5, max_seconds=15, min_speech_seconds=0.15)
    outcome, t = feed(s, "..." + "S" * 20 + "." * 20, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED
    assert t == pytest.approx(0.3 + 2.0 + 0.7)
    assert s.speech_start == pytest.approx(0.3) and s.speech_end == pytest.approx(2.3)


def test_pauses_shorter_than_the_trailing_silence_do_not_end_it():
    s = Segmenter(trailing_silence=0.7)
    outcome, t = feed(s, "SSSSS" + "....." + "SSSSS" + "." * 10, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED and t == pytest.approx(1.5 + 0.7)


def test_no_speech_within_the_start_timeout():
    s = Segmenter(start_timeout=5.0)
    assert feed(s, "." * 100, step=0.1) == (Outcome.NO_SPEECH, 5.0)


def test_short_blips_do_not_start_a_question():
    s = Segmenter(start_timeout=2.0, min_speech_seconds=0.15)
    outcome, _ = feed(s, ("S" + "...") * 10, step=0.1)  # 0.1 s clicks never reach 0.15 s
    assert outcome == Outcome.NO_SPEECH


def test_hard_cap_sends_what_was_recorded():
    s = Segmenter(max_seconds=15.0)
    assert feed(s, "S" * 300, step=0.1) == (Outcome.MAX_LENGTH, 15.0)


def test_preroll_keeps_the_last_half_second():
    p = Preroll(0.5)
    for i in range(20):
        p.push(np.full(FRAME_SAMPLES, i, dtype=np.int16))
    frames = p.take()
    assert len(frames) == round(0.5 / FRAME_SECONDS) and frames[-1][0] == 19
    assert p.take() == []


@pytest.mark.parametrize("text,expected", [
    ("Which city do you mean?", True), ('Did you say "Paris?"', True), ("It is sunny.", False),
    ("Is it? No, it is not.", False), ("", False),
])
def test_follow_up_when_the_answer_asks_back(text, expected):
    assert expects_reply(text) is expected


def endpoint(audio, **kw):
    vad = SileroVad()
    seg = Segmenter(**kw)
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        outcome = seg.process(vad.speech_probability(audio[i:i + FRAME_SAMPLES]) >= 0.5, FRAME_SECONDS)
        if outcome != Outcome.CONTINUE:
            return outcome, (i + FRAME_SAMPLES) / 16000, seg
    return Outcome.CONTINUE, len(audio) / 16000, seg


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_recording_ends_within_a_second_of_the_end_of_speech(voice):
    question = synth("What is the tallest mountain in the world?", voice=voice)
    audio = concat(silence(0.5), question, noise(3.0, -50, seed=4))
    speech_end = 0.5 + len(question) / 16000
    outcome, t, seg = endpoint(audio, trailing_silence=0.7)
    assert outcome == Outcome.SPEECH_ENDED
    assert speech_end < t <= speech_end + 1.0
    assert seg.speech_start is not None and seg.speech_start < 0.5 + 0.3


@pytest.mark.slow
def test_start_timeout_and_hard_cap_on_real_audio():
    outcome, t, _ = endpoint(noise(8.0, -50, seed=5), start_timeout=5.0)
    assert outcome == Outcome.NO_SPEECH and t == pytest.approx(5.0, abs=0.1)
    talk = concat(*[synth("I keep talking about mountains and rivers and seas") for _ in range(5)])
    outcome, t, _ = endpoint(talk, max_seconds=6.0)
    assert outcome == Outcome.MAX_LENGTH and t == pytest.approx(6.0, abs=0.1)
