"""openWakeWord's real models on real synthesized speech (piper and espeak-ng): recall, false accepts, near
misses, refractory period, the threshold boost while speaking, deterministic resets.

Every clip sits on a -60 dBFS noise floor, as a microphone never delivers digital silence (and exact zeros
change the model's features). Thresholds come from scripts/bench_wake.py's measurements (docs/wake-word.md):
piper's "hey jarvis" scores >= 0.96 in every condition, espeak's is weaker and falls with noise; ordinary
sentences stay below 0.01; one-consonant variants of "Jarvis" score like the wake word itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from appliance.config.settings import WakeSettings
from appliance.errors import ApplianceError, ErrorKind
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS
from appliance.wake.oww import OpenWakeWordDetector
from appliance.wake.oww_setup import resolve_model, shipped_models
from standin.voice import concat, noise, room, synth

THRESHOLD = WakeSettings().threshold  # 0.5, openWakeWord's own recommendation


def frames(audio: np.ndarray):
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        yield audio[i : i + FRAME_SAMPLES]


def scores(detector: OpenWakeWordDetector, audio: np.ndarray, model: str = "hey_jarvis") -> list[float]:
    detector.reset()
    out = []
    for f in frames(audio):
        detector.process(f)
        out.append(detector.last_scores[model])
    return out


def best(detector, audio, model="hey_jarvis") -> float:
    return max(scores(detector, audio, model))


def hits(detector, audio, boost=0.0):
    detector.reset()
    found = []
    for i, f in enumerate(frames(audio)):
        hit = detector.process(f, threshold_boost=boost)
        if hit is not None:
            found.append((round((i + 1) * FRAME_SECONDS, 2), hit))
    return found


@pytest.fixture(scope="module")
def detector():
    return OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0))


# piper: 3 speeds x 2 levels (normal, 20 dB quieter) x quiet room / noise 10 dB under the speech
PIPER = [
    dict(speed=s, gain_db=g, snr_db=n) for s, g, n in itertools.product((0.8, 1.0, 1.25), (-20.0, 0.0), (None, 10.0))
]
# espeak: the harder voice, in the conditions where the bench measured it reliable (quiet room, 0.9-1.1x)
ESPEAK = [dict(speed=s, gain_db=g, snr_db=None) for s, g in itertools.product((0.9, 1.0, 1.1), (-10.0, 0.0))]
ORDINARY = [
    "What time is it?",
    "Turn on the lights please.",
    "The jar is empty.",
    "Have this one.",
    "Hey, are you there?",
    "Tell me a joke about computers.",
    "What's the weather like tomorrow?",
    "Remind me to call my mother at six.",
]
# near misses the model tells apart (a different vowel or several different sounds)
DISTINCT = [
    "Hey Davis!",
    "Hey Marvin!",
    "Hey Marcus!",
    "Hey Curtis!",
    "Hey Mavis!",
    "Harvest this.",
    "A jar of jam is on the shelf.",
    "The jury was nervous.",
]


def clip(text, voice="piper", speed=1.0, gain_db=0.0, snr_db=None, seed=0):
    return room(synth(text, voice=voice, speed=speed, gain_db=gain_db), snr_db, seed=seed)


@pytest.mark.slow
def test_recall_on_hey_jarvis_across_voices_speeds_levels_and_noise(detector):
    piper = {tuple(kw.values()): best(detector, clip("Hey Jarvis!", **kw, seed=i)) for i, kw in enumerate(PIPER)}
    espeak = {
        tuple(kw.values()): best(detector, clip(text, "espeak", **kw, seed=i))
        for i, (text, kw) in enumerate(itertools.product(("Hey Jarvis!", "Hey Jarvis, what time is it?"), ESPEAK))
    }
    recall_piper = np.mean([s >= THRESHOLD for s in piper.values()])
    recall_espeak = np.mean([s >= THRESHOLD for s in espeak.values()])
    assert recall_piper == 1.0, piper  # measured: every piper clip >= 0.96
    assert recall_espeak >= 10 / 12, espeak  # measured: 11 of 12
    assert np.mean(list(piper.values()) + list(espeak.values())) > 0.8


@pytest.mark.slow
def test_no_false_accepts_on_ordinary_speech_or_distinct_near_misses(detector):
    results = {
        (text, voice): best(detector, clip(text, voice))
        for text, voice in itertools.product(ORDINARY + DISTINCT, ("piper", "espeak"))
    }
    accepted = {k: s for k, s in results.items() if s >= THRESHOLD}
    assert accepted == {}
    # ordinary speech is nowhere near the threshold (measured < 0.01)
    assert max(results[(t, v)] for t, v in itertools.product(ORDINARY, ("piper", "espeak"))) < 0.1


@pytest.mark.slow
def test_hey_travis_needs_a_stricter_per_model_threshold():
    """'Hey Travis' (one consonant away) scores 0.49-0.88 with piper, 'Hey Jarvis' >= 0.99: a per-model
    threshold of 0.95 tells them apart; the default does not."""
    default = OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0))
    strict = OpenWakeWordDetector(WakeSettings(thresholds={"hey_jarvis": 0.95}, refractory_seconds=0.0))
    accepted = 0
    for speed in (0.9, 1.0, 1.1):
        travis, jarvis = clip("Hey Travis!", speed=speed), clip("Hey Jarvis!", speed=speed)
        accepted += bool(hits(default, travis))
        assert hits(strict, travis) == [], speed
        assert hits(strict, jarvis), speed
    assert accepted >= 2  # measured: at 1.0x and 1.1x
    assert strict.threshold("hey_jarvis") == 0.95 and strict.threshold("alexa") == THRESHOLD


@pytest.mark.slow
def test_hit_names_the_model_with_its_score_and_respects_the_refractory_period():
    audio = concat(clip("Hey Jarvis!"), noise(2.0, -60, seed=9), clip("Hey Jarvis!", speed=1.1))
    every = hits(OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0)), audio)
    assert len(every) > 2  # the score stays above the threshold for several frames
    two = hits(OpenWakeWordDetector(WakeSettings(refractory_seconds=2.0)), audio)
    assert len(two) == 2 and two[1][0] - two[0][0] >= 2.0
    for _, hit in two:
        assert hit.model == "hey_jarvis" and THRESHOLD <= hit.score <= 1.0
    one = hits(OpenWakeWordDetector(WakeSettings(refractory_seconds=10.0)), audio)
    assert len(one) == 1 and one[0][0] == two[0][0]


@pytest.mark.slow
def test_threshold_boost_while_speaking(detector):
    """While the appliance speaks, the wake word needs threshold + boost: a weaker match no longer wakes,
    a clear one still does."""
    weaker = clip("Hey Travis!", speed=1.1)  # measured 0.88
    assert hits(detector, weaker, boost=0.0)
    assert hits(detector, weaker, boost=0.4) == []
    clear = clip("Hey Jarvis!")
    score = best(detector, clear)
    assert hits(detector, clear, boost=WakeSettings().speaking_boost)
    assert hits(detector, clear, boost=score - THRESHOLD - 0.001)
    assert hits(detector, clear, boost=score - THRESHOLD + 0.001) == []
    assert score < 1.0 and hits(detector, clear, boost=1.0) == []  # threshold + boost is capped at 1


@pytest.mark.slow
def test_two_models_at_once_each_with_its_own_name(tmp_path):
    d = OpenWakeWordDetector(WakeSettings(models=["alexa", "hey_jarvis"], refractory_seconds=0.0))
    assert d.names == ["alexa", "hey_jarvis"]
    jarvis = hits(d, clip("Hey Jarvis!"))
    assert jarvis and {h.model for _, h in jarvis} == {"hey_jarvis"}
    assert max(scores(d, clip("Hey Jarvis!"), "alexa")) < 0.1
    alexa = hits(d, clip("Alexa, what time is it?"))
    assert alexa and {h.model for _, h in alexa} == {"alexa"}


@pytest.mark.slow
def test_same_audio_same_scores_after_reset_whatever_the_global_random_state():
    """openwakeword fills its buffers with unseeded noise on reset, which moved scores by up to ~0.015 from
    run to run; the detector's seeded start makes every frame's score repeatable."""
    audio = concat(synth("Hey Jarvis!"), noise(0.5, -60, seed=3))  # speech at once: the start matters
    fresh = OpenWakeWordDetector(WakeSettings())
    np.random.seed(1)
    first = scores(fresh, audio)
    used = OpenWakeWordDetector(WakeSettings())
    scores(used, clip("What time is it?"))
    np.random.seed(2)
    assert scores(used, audio) == first
    assert max(first) >= THRESHOLD


def test_custom_model_paths_and_configuration_errors(tmp_path):
    name, path = resolve_model("alexa", "tflite")
    assert name == "alexa" and path.is_file()
    assert {"hey_jarvis", "alexa", "hey_mycroft", "okay_nabu"} <= set(shipped_models())
    d = OpenWakeWordDetector(WakeSettings(models=[str(path), "hey_jarvis"]))
    assert d.names == ["alexa", "hey_jarvis"] and d.last_scores == {"alexa": 0.0, "hey_jarvis": 0.0}
    d.process(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    assert set(d.last_scores) == {"alexa", "hey_jarvis"}

    def config_error(settings, match):
        with pytest.raises(ApplianceError, match=match) as err:
            OpenWakeWordDetector(settings)
        assert err.value.kind == ErrorKind.CONFIG

    config_error(WakeSettings(models=["hey_siri"]), "no built-in model 'hey_siri'.*shipped: alexa")
    config_error(WakeSettings(models=["melspectrogram"]), "no built-in model 'melspectrogram'")
    config_error(WakeSettings(models=[str(tmp_path / "nope.tflite")]), "no model file at")
    config_error(
        WakeSettings(models=["hey_jarvis", str(resolve_model("hey_jarvis", "tflite")[1])]), "hey_jarvis named twice"
    )
    config_error(WakeSettings(models=["hey_jarvis"], runtime="onnx"), "shipped for the tflite runtime only")
    custom = tmp_path / "my_word.onnx"
    custom.write_bytes(b"not loaded: the feature models are checked first")
    config_error(WakeSettings(models=[str(custom)]), "needs wake.runtime = 'onnx'")
    config_error(
        WakeSettings(models=[str(custom)], runtime="onnx"), "melspectrogram.onnx and embedding_model.onnx must be in"
    )


def test_frames_must_be_80_ms_of_int16():
    d = OpenWakeWordDetector(WakeSettings())
    with pytest.raises(ValueError, match="1280 int16 samples"):
        d.process(np.zeros(FRAME_SAMPLES // 2, dtype=np.int16))
    with pytest.raises(ValueError, match="1280 int16 samples"):
        d.process(np.zeros(FRAME_SAMPLES, dtype=np.float32))


def test_detectors_of_the_same_models_and_seed_share_the_seeded_start():
    """The barge-in listener builds two more detectors of the same models: the seeded noise's embeddings are
    computed once per model and seed, and each detector starts from its own copy of them."""
    from appliance.wake.oww_setup import noise_samples

    first, second = OpenWakeWordDetector(WakeSettings(), seed=0), OpenWakeWordDetector(WakeSettings(), seed=0)
    other = OpenWakeWordDetector(WakeSettings(), seed=1)
    assert first._initial_features is second._initial_features
    assert not first._initial_features.flags.writeable
    assert not np.array_equal(first._initial_features, other._initial_features)
    noise = np.random.default_rng(0).integers(-1000, 1000, noise_samples(16)).astype(np.int16)
    assert np.array_equal(first._initial_features, first._model.preprocessor._get_embeddings(noise))
    buffer = first._model.preprocessor.feature_buffer
    assert buffer is not second._model.preprocessor.feature_buffer and buffer.flags.writeable
    first.process(np.full(FRAME_SAMPLES, 300, dtype=np.int16))
    assert np.array_equal(second._model.preprocessor.feature_buffer, first._initial_features)
