"""openWakeWord's real models on real synthesized speech (piper and espeak-ng), positives and near misses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from speech import concat, noise, silence, synth

from appliance.errors import ApplianceError
from appliance.settings import WakeSettings
from appliance.wake.oww import OpenWakeWordDetector, resolve_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector():
    return OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0))


def best_score(detector, audio):
    detector.reset()
    best = 0.0
    for i in range(0, len(audio) - 1279, 1280):
        detector.process(audio[i:i + 1280])
        best = max(best, detector.last_scores["hey_jarvis"])
    return best


def clip(text, **kw):
    return concat(silence(0.5), synth(text, **kw), silence(0.8))


POSITIVES = (
    [dict(voice="piper", speed=s, gain_db=g, noise_db=n, seed=1)
     for s, g, n in itertools.product((0.8, 1.0, 1.25), (-12.0, 0.0), (None, -40.0))]
    + [dict(voice="espeak", speed=s, gain_db=0.0, noise_db=n, seed=2)
       for s, n in itertools.product((0.8, 1.0, 1.25), (None, -40.0))]
)
ORDINARY = ["What time is it?", "Turn on the lights please.", "The jar is empty.", "Have this",
            "Hey, are you there?", "Tell me a joke about computers."]
NEAR_MISSES = ["Hey Travis!", "Hey Marcus!", "Hey Charlie!", "Hey Davis!", "Harvest this", "Hey service!",
               "Hey Carla!"]


def test_recall_on_hey_jarvis_across_voices_speeds_levels_and_noise(detector):
    threshold = WakeSettings().threshold
    scores = [best_score(detector, clip("Hey Jarvis!", **kw)) for kw in POSITIVES]
    recall = np.mean([s >= threshold for s in scores])
    assert recall >= 0.95, list(zip(POSITIVES, scores, strict=True))


def test_no_false_accepts_on_ordinary_speech(detector):
    threshold = WakeSettings().threshold
    for text, voice in itertools.product(ORDINARY, ("piper", "espeak")):
        assert best_score(detector, clip(text, voice=voice)) < threshold, (text, voice)


def test_near_misses_are_mostly_rejected(detector):
    threshold = WakeSettings().threshold
    results = {(t, v): best_score(detector, clip(t, voice=v))
               for t, v in itertools.product(NEAR_MISSES, ("piper", "espeak"))}
    accepted = [k for k, s in results.items() if s >= threshold]
    # measured: only piper's "Hey Travis!" (0.92) passes the default threshold; allow one more
    assert len(accepted) <= 2, results
    # a stricter per-model threshold rejects it while clean "hey jarvis" still wakes
    assert results[("Hey Travis!", "piper")] < 0.95
    assert best_score(detector, clip("Hey Jarvis!")) >= 0.95


def test_hit_reports_model_and_score_and_respects_the_refractory_period():
    now = [0.0]
    d = OpenWakeWordDetector(WakeSettings(refractory_seconds=2.0), clock=lambda: now[0])
    audio = clip("Hey Jarvis!")
    hits = []
    for repeat in range(2):
        for i in range(0, len(audio) - 1279, 1280):
            now[0] += 0.08 if repeat == 0 else 0.0  # the second pass happens "at once"
            hit = d.process(audio[i:i + 1280])
            if hit:
                hits.append(hit)
    assert len(hits) == 1
    assert hits[0].model == "hey_jarvis" and hits[0].score >= 0.5


def test_threshold_boost_while_speaking(detector):
    """While the appliance speaks, the wake word needs threshold + boost: a weaker match no longer wakes."""
    audio = clip("Hey Jarvis!", voice="espeak", gain_db=-12.0, noise_db=-40.0, seed=2)

    def hits(boost):
        detector.reset()
        return sum(detector.process(audio[i:i + 1280], threshold_boost=boost) is not None
                   for i in range(0, len(audio) - 1279, 1280))

    score = best_score(detector, audio)
    assert 0.5 <= score < 1.0
    assert hits(0.0) >= 1
    assert hits(score - 0.5 + 0.005) == 0


def test_same_audio_same_scores_after_reset(detector):
    audio = concat(noise(1.0, -45, seed=3), synth("Hey Jarvis!"), silence(0.5))
    assert best_score(detector, audio) == best_score(detector, audio)


def test_custom_model_paths_and_unknown_names():
    name, path = resolve_model("alexa", "tflite")
    assert name == "alexa" and path.is_file()
    d = OpenWakeWordDetector(WakeSettings(models=[str(path), "hey_jarvis"]))
    assert d.names == ["alexa", "hey_jarvis"]
    with pytest.raises(ApplianceError, match="no built-in tflite model 'hey_siri'"):
        resolve_model("hey_siri", "tflite")
