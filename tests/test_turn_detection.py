"""End of turn on synthesized speech: Silero VAD + the policy + smart-turn v3 on the audio itself (no app).

The sets are the ones the model judges right on these voices; scripts/bench_endpoint.py runs the whole
synthesized set, misses included (smart-turn calls many mid-sentence cuts of synthesized speech complete)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from appliance.endpoint.detector import TurnDetector
from appliance.endpoint.policy import Action, EndReason, TurnPolicy
from appliance.endpoint.smart_turn import SmartTurn, features, model_path
from appliance.ports import FRAME_SAMPLES
from appliance.sim.turns import Sample, complete, paused, with_noise_in_pause
from appliance.wake.vad import SileroVad

pytestmark = pytest.mark.slow  # synthesized speech through the turn model


@functools.lru_cache(maxsize=1)
def model() -> SmartTurn:
    return SmartTurn()


def detect(sample: Sample, *, use_model: bool = True) -> TurnDetector:
    vad = SileroVad()
    detector = TurnDetector(TurnPolicy(short_pause=0.16, long_pause=2.0), model() if use_model else None)
    pcm = sample.pcm
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = pcm[i : i + FRAME_SAMPLES]
        if detector.process(frame, vad.speech_probability(frame) > 0.5) is Action.END:
            break
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
    ("espeak", "What time is it?"),
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


#: (sentence, words before the pause) per voice: where smart-turn hears "not finished" on that voice
QUESTION = {
    "piper": ("What is the weather like in Paris today?", "What is the weather like"),
    "espeak": ("What is the weather like in Paris, today?", "What is the weather like in"),
}
PAUSED = [(voice, pause, fill) for voice in ("piper", "espeak") for pause in (1.0, 1.3, 1.5) for fill in (-60, -40)]


@pytest.mark.parametrize(("voice", "pause", "fill"), PAUSED)
def test_a_thinking_pause_mid_sentence_does_not_cut_the_question(voice, pause, fill):
    sample = paused(*QUESTION[voice], pause, voice, fill_db=fill)
    detector = detect(sample)
    result = detector.result
    assert result is not None and result.reason in (EndReason.COMPLETE, EndReason.PAUSE)
    assert result.at > sample.speech_end, "the turn ended during the pause"
    assert result.speech_end == pytest.approx(sample.speech_end, abs=0.25)  # the whole question is in it
    assert detector.verdicts[0].probability < 0.5  # the model was asked in the pause and said "go on"


@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_noise_in_a_pause_does_not_end_the_turn_early(voice):
    sample = with_noise_in_pause(paused(*QUESTION[voice], 1.3, voice), level_db=-35.0, bursts=3)
    result = detect(sample).result
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
