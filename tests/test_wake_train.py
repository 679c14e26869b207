"""`appliance wake train` (appliance/wake/train/): bad input gets a message and no traceback, the model files are
refused when half written, and a small real training run (espeak-ng, a few hundred clips, openWakeWord's
feature models) makes a model the wake engine loads, that finds its phrase said by voices it never heard and
ignores a near miss, and that survives an interruption."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from appliance.config.settings import WakeSettings
from appliance.errors import ApplianceError
from appliance.host import cli
from appliance.ports import FRAME_SAMPLES
from appliance.wake import trained
from appliance.wake.oww import OpenWakeWordDetector
from appliance.wake.train import augment, pipeline, soundalike, workfolder
from appliance.wake.train.phrase import PhraseError, neighbours, normalize, slug
from standin.voice import room
from standin.wakeset import speech

PHRASE = "hey jarvis"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["wake", "train", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hey", "one syllable"),
        ("Алекса привет", "not in English letters"),
        ("嘿 贾维斯", "not in English letters"),
        ("one two three four five six seven eight nine ten", "10 words"),
        ("hey number 9", "digits"),
    ],
)
def test_bad_phrases_get_a_message_and_exit_code_2(phrase, says, capsys, tmp_path):
    code, text = run_cli(capsys, phrase, "--out", str(tmp_path / "out"))
    assert code == 2
    assert says in text
    assert "Traceback" not in text
    assert not (tmp_path / "out").exists()


def test_phrases_are_normalized_and_named():
    assert normalize("  Hey,  Jarvis! ") == "hey jarvis"
    assert normalize("Café Robot") == "cafe robot"
    assert slug("Hey Kitchen!") == "hey_kitchen"
    assert normalize("computer") == "computer"  # one word of three syllables is fine
    with pytest.raises(PhraseError):
        normalize("ok")


def test_neighbours_sound_like_the_phrase_but_are_not_it():
    near = neighbours(PHRASE, 60, seed=1)
    assert len(near) == 60 and PHRASE not in near
    assert len(set(near)) == 60
    assert neighbours(PHRASE, 60, seed=1) == near  # deterministic
    assert "jarvis" in near and "hey" in near  # the parts alone
    assert any(n.startswith("hey ") and n.endswith("arvis") and n != PHRASE for n in near)  # onset swaps
    alikes = [n for n in near if n.startswith("hey ") and n[4:] in soundalike.dictionary()]
    assert {n[4:] for n in alikes} & {"jarvik", "sarvis", "marvin", "jarvi", "gargus", "jobless"}  # real words
    assert not [n for n in neighbours(PHRASE, 200, seed=1) if n.split()[0] in ("hay", "haye", "haigh")]


def test_sound_alikes_are_real_words_a_phone_or_two_away_and_never_homophones():
    rng = random.Random(1)
    alikes = soundalike.sound_alikes("kitchen", 12, rng)
    assert len(alikes) == 12 and "kitchen" not in alikes
    assert {"kitten", "mitchen", "ketchen"} & set(alikes)
    assert all(soundalike.distance("kitchen", w) == 1 for w in alikes)  # the closest come first (19 at 1 edit)
    assert soundalike.distance("hey", "hay") == 0 and "hay" not in soundalike.sound_alikes("hey", 2000, rng)
    assert soundalike.homophone("hay jarvis", PHRASE) and not soundalike.homophone("they jarvis", PHRASE)
    assert soundalike.sound_alikes("zqxjarv", 5, rng) == []  # a word the dictionary does not know


def test_another_talker_moves_pitch_and_formants_together():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    for factor in (0.85, 1.2):
        y = augment.warp(x, factor)
        assert len(y) == round(16000 / factor)
        peak = np.fft.rfftfreq(len(y), 1 / 16000)[int(np.argmax(np.abs(np.fft.rfft(y))))]
        assert abs(peak - 440 * factor) < 2
        assert 0.98 < float(np.abs(y).max()) < 1.02  # the level kept


def test_a_full_disk_is_said_before_anything_is_made(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(workfolder, "free_bytes", lambda _folder: 5_000_000)
    code, text = run_cli(capsys, PHRASE, "--out", str(tmp_path / "out"), "--small")
    assert code == 2
    assert "not enough disk space" in text and "MB free" in text
    assert "Traceback" not in text
    assert not list((tmp_path / "out").glob("*.npz"))


def test_a_work_folder_of_another_phrase_is_refused(capsys, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "recipe.json").write_text(json.dumps({"phrase": "hey kitchen"}))
    code, text = run_cli(capsys, PHRASE, "--out", str(tmp_path / "out"), "--work", str(work), "--small")
    assert code == 2
    assert "belongs to another training" in text and "hey kitchen" in text


def _fake_model(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "layers": np.array(2),
        "mean": np.zeros(16 * 96, np.float32),
        "scale": np.ones(16 * 96, np.float32),
        "w0": rng.normal(0, 0.01, (16 * 96, 8)).astype(np.float32),
        "b0": np.zeros(8, np.float32),
        "w1": rng.normal(0, 0.01, (8, 1)).astype(np.float32),
        "b1": np.zeros(1, np.float32),
    }
    path = folder / "hey_test.npz"
    trained.save(path, arrays, {"phrase": "hey test", "threshold": 0.6})
    return path


def test_a_model_without_its_metadata_or_changed_since_is_refused(tmp_path):
    path = _fake_model(tmp_path)
    detector = OpenWakeWordDetector(WakeSettings(models=[str(path)]))
    assert detector.names == ["hey_test"] and detector.threshold("hey_test") == 0.6
    assert detector.features_per_model == {"hey_test": 16}
    detector.process(np.zeros(FRAME_SAMPLES, np.int16))
    assert 0.0 <= detector.last_scores["hey_test"] <= 1.0
    # a .npz rewritten after its metadata (an interrupted write, a copy gone wrong)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ApplianceError, match="does not match its metadata"):
        OpenWakeWordDetector(WakeSettings(models=[str(path)]))
    path.with_suffix(".json").unlink()
    with pytest.raises(ApplianceError, match="has no metadata"):
        OpenWakeWordDetector(WakeSettings(models=[str(path)]))
    with pytest.raises(ApplianceError, match="no trained model file"):
        OpenWakeWordDetector(WakeSettings(models=[str(tmp_path / "missing.npz")]))


def _best(detector: OpenWakeWordDetector, audio: np.ndarray, name: str) -> float:
    detector.reset()
    best = 0.0
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detector.process(audio[i : i + FRAME_SAMPLES])
        best = max(best, detector.last_scores[name])
    return best


@pytest.mark.slow
def test_a_small_training_run_is_resumable_and_makes_a_working_model(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    recipe = pipeline.Recipe.small(PHRASE)
    checks = {"n": 0}

    def stop_midway() -> bool:
        checks["n"] += 1
        return checks["n"] == 6  # during the speaking stage

    with pytest.raises(KeyboardInterrupt):
        pipeline.train(recipe, out, work=work, progress=None, should_stop=stop_midway)
    assert not list(out.glob("*.npz")) and not list(out.glob("*.json"))
    spoken = len(list((work / "speech").glob("*.npy")))
    assert spoken > 0
    assert not list((work / "speech").glob("*.part"))

    result = pipeline.train(recipe, out, work=work, progress=None)
    assert result.model == out / "hey_jarvis.npz"
    meta = json.loads(result.model.with_suffix(".json").read_text())
    for key in ("phrase", "threshold", "recipe_version", "recipe", "seed", "data", "licence", "figures", "sha256"):
        assert key in meta, key
    assert meta["phrase"] == PHRASE and 0.3 <= meta["threshold"] <= 0.95
    assert meta["data"]["held_out_engines"] == ["piper", "festival", "flite"]
    assert "non-commercial" in meta["licence"]
    assert meta["figures"]["validation_positives"] > 0

    detector = OpenWakeWordDetector(WakeSettings(models=[str(result.model)]))
    threshold = detector.threshold("hey_jarvis")
    used = {u.voice.name for u in pipeline.plan(recipe, json.loads((work / "sentences.json").read_text()))}
    fresh = [v for v in ("en-us+m3", "en-gb+f2", "en-gb-scotland+m2", "en-us+f4", "en-gb-x-rp+m5") if v not in used]
    assert len(fresh) >= 2
    found = [
        _best(detector, room(speech(text, f"espeak:{v}", 1.0), seed=i), "hey_jarvis")
        for i, v in enumerate(fresh[:3])
        for text in ("Hey Jarvis!",)
    ]
    assert sum(s >= threshold for s in found) >= len(found) - 1, found
    near = _best(detector, room(speech("What time is it?", f"espeak:{fresh[0]}", 1.0)), "hey_jarvis")
    assert near < threshold, near


def test_the_shipped_trained_models_load_by_name_beside_the_pretrained_one():
    from appliance.wake.oww_setup import shipped_models

    assert {"hey_jarvis_trained", "hey_kitchen"} <= set(shipped_models())
    detector = OpenWakeWordDetector(WakeSettings(models=("hey_jarvis", "hey_jarvis_trained", "hey_kitchen")))
    assert detector.names == ["hey_jarvis", "hey_jarvis_trained", "hey_kitchen"]
    for name, said in (("hey_jarvis_trained", "hey jarvis"), ("hey_kitchen", "hey kitchen")):
        meta = json.loads((trained.shipped_dir() / f"{name}.json").read_text())
        assert meta["phrase"] == said and meta["data"]["held_out_engines"] == ["flite"]
        assert detector.threshold(name) == meta["threshold"]
        assert "Apache-2.0" in meta["licence"] and "No pretrained wake model" in meta["licence"]
    assert detector.threshold("hey_jarvis") == WakeSettings().threshold
    for _ in range(10):
        detector.process(np.zeros(FRAME_SAMPLES, np.int16))
    assert all(0.0 <= detector.last_scores[n] <= 1.0 for n in detector.names)
