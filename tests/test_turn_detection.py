"""End of turn on synthesized speech: Silero VAD + the policy + smart-turn v3 on the audio itself (no app).

The sets are the ones the model judges right on these voices; scripts/bench_endpoint.py runs the whole
synthesized set, misses included (smart-turn calls many mid-sentence cuts of synthesized speech complete)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from appliance.listening.endpoint.detector import TurnDetector
from appliance.listening.endpoint.policy import EndReason, TurnPolicy
from appliance.listening.endpoint.smart_turn import SmartTurn, features, model_path
from standin.turns import Sample, complete, endpoint, paused, with_noise_in_pause

pytestmark = pytest.mark.slow  # synthesized speech through the turn model


@functools.lru_cache(maxsize=1)
def model() -> SmartTurn:
    return SmartTurn()


def detect(sample: Sample, *, use_model: bool = True, transcript: bool = False) -> TurnDetector:
    policy = TurnPolicy(short_pause=0.08, long_pause=2.0, hold_for_text=transcript)
    detector = endpoint(
        sample, TurnDetector(policy, model() if use_model else None), transcript=0.3 if transcript else None
    )
    assert detector.result is not None, "the turn never ended"
    return detector


def test_the_model_comes_from_the_installed_wheel_and_its_features_have_its_shape():
    path = model_path()
    assert path.name == "smart-turn-v3.2-cpu.onnx" and path.stat().st_size > 5_000_000
    feats = features(np.zeros(16000, dtype=np.int16))
    assert feats.shape == (1, 80, 800) and feats.dtype == np.float32


COMPLETE = [
    ("piper", "What is the weather like in Paris today?"),
    ("piper", "What time is it?"),
    ("piper", "Turn off the kitchen lights."),
    ("piper", "Set a timer for ten minutes."),
    ("espeak", "Turn off the kitchen lights."),
    ("espeak", "Tell me a joke."),
]


@pytest.mark.parametrize(("voice", "text"), COMPLETE)
def test_a_complete_question_ends_within_400_ms_of_the_end_of_speech(voice, text):
    sample = complete(text, voice)
    detector = detect(sample)
    result = detector.result
    assert result is not None and result.reason is EndReason.COMPLETE
    assert result.probability is not None and result.probability > 0.5
    assert all(v.cpu_ms > 0 and v.total_ms > 0 for v in detector.verdicts)
    assert 0 < result.at - sample.speech_end <= 0.4, f"ended {result.at - sample.speech_end:.2f} s after speech"


#: (sentence, words before the pause): the cut stops on a dangling word, which the transcript check hears
DANGLING = [
    ("What is the weather like in Paris, today?", "What is the weather like in"),
    ("Can you set a timer for ten minutes?", "Can you set a timer for"),
    ("What is the capital of France?", "What is the capital of"),
]
WITH_TRANSCRIPT = [
    pytest.param(voice, q, pause, id=f"{voice}-{q[1].split()[-2]}-{pause}")
    for voice in ("piper", "espeak")
    for q in DANGLING
    for pause in (1.0, 1.5)
]


@pytest.mark.parametrize(("voice", "question", "pause"), WITH_TRANSCRIPT)
def test_a_thinking_pause_after_a_dangling_word_does_not_cut_the_question(voice, question, pause):
    """The model alone calls most of these pauses complete (synthesized speech ends each fragment with a
    finished pitch); the transcript of the words so far holds the turn open until the user goes on."""
    sample = paused(*question, pause, voice)
    result = detect(sample, transcript=True).result
    assert result is not None and result.reason in (EndReason.COMPLETE, EndReason.PAUSE)
    assert sample.pause is not None and result.at > sample.pause[1], "the turn ended during the pause"
    assert result.speech_end == pytest.approx(sample.speech_end, abs=0.25)  # the whole question is in it
    assert result.at - sample.speech_end <= 2.0 + 0.25  # it ended after the question (model or long pause)


@pytest.mark.parametrize(("pause", "fill"), [(p, f) for p in (1.0, 1.5) for f in (-60, -40)])
def test_where_the_model_hears_a_pause_as_unfinished_it_holds_on_its_own(pause, fill):
    sample = paused(
        "What is the weather like in Paris today?", "What is the weather like", pause, "piper", fill_db=fill
    )
    detector = detect(sample)
    result = detector.result
    assert result is not None and result.at > sample.speech_end
    assert result.speech_end == pytest.approx(sample.speech_end, abs=0.25)
    assert detector.verdicts[0].probability < 0.5  # the model was asked in the pause and said "go on"


@pytest.mark.parametrize("transcript", [False, True])
def test_noise_in_a_pause_does_not_end_the_turn_early(transcript):
    question = ("What is the weather like in Paris, today?", "What is the weather like in")
    base = paused("What is the weather like in Paris today?", "What is the weather like", 1.3, "piper")
    sample = with_noise_in_pause(paused(*question, 1.3, "espeak") if transcript else base, level_db=-35.0, bursts=3)
    result = detect(sample, transcript=transcript).result
    assert result is not None and result.at > sample.speech_end
    assert result.speech_end == pytest.approx(sample.speech_end, abs=0.25)


def test_noise_after_a_complete_question_does_not_keep_the_turn_open_or_cut_it():
    sample = complete("What time is it?", "piper", tail=2.5)
    noisy = Sample(sample.name, sample.voice, sample.pcm.copy(), sample.speech_end)
    start = int((sample.speech_end + 0.5) * 16000)
    burst = (np.random.default_rng(3).normal(0, 32767 * 10 ** (-30 / 20), 1280)).astype(np.int16)
    noisy.pcm[start : start + len(burst)] += burst  # a knock after the question
    result = detect(noisy).result
    assert result is not None and result.reason is EndReason.COMPLETE
    assert 0 < result.at - sample.speech_end <= 0.4


def test_without_a_model_the_long_pause_decides():
    sample = complete("What time is it?", "piper", tail=2.5)
    result = detect(sample, use_model=False).result
    assert result is not None and result.reason is EndReason.PAUSE
    assert result.at - sample.speech_end == pytest.approx(2.0, abs=0.25)
