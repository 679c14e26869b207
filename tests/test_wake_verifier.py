"""The enrolled wake-word verifier (appliance/wake/enroll.py, verifier.py): one piper user enrolls with takes
the held-out set does not use, then the verifier keeps that voice's held-out wake words and rejects its near
misses that the plain model wakes on; a damaged stored file is ignored; bad takes are refused."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

from appliance.audio.wavfile import WavMicrophone
from appliance.config.settings import SettingsError, WakeSettings
from appliance.host import cli, enroll_command
from appliance.wake import enroll, verifier
from appliance.wake.gate import GatedWakeDetector
from appliance.wake.oww import OpenWakeWordDetector
from standin import wakeset
from standin.headless import run
from standin.voice import concat, silence, synth, write_wav

pytestmark = pytest.mark.slow  # synthesized speech through the real model, and a training run

TAKES = (("Hey Jarvis!", 0.9), ("Hey, Jarvis.", 1.1), ("Hey Jarvis?", 0.95), ("Hey Jarvis.", 1.05))
THRESHOLD = WakeSettings().threshold


def takes() -> list[np.ndarray]:
    return [wakeset.speech(text, "piper", speed) for text, speed in TAKES]


def negatives() -> list[np.ndarray]:
    return [wakeset.speech(enroll.NEGATIVE_PROMPT, "piper", 1.0)]


@pytest.fixture(scope="module")
def detector() -> OpenWakeWordDetector:
    return OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0), seed=0)


@pytest.fixture(scope="module")
def enrolled(detector: OpenWakeWordDetector) -> verifier.LinearVerifier:
    return enroll.enroll(takes(), negatives(), WakeSettings(), source="prompt", detector=detector)


def best(detector: OpenWakeWordDetector, sample: wakeset.Sample, verifiers: list[verifier.LinearVerifier]) -> float:
    detector.use_verifiers(verifiers)
    try:
        return wakeset.score_all([sample], detector)[0].score
    finally:
        detector.use_verifiers([])


@pytest.mark.parametrize("speed", wakeset.SPEEDS)
@pytest.mark.parametrize("condition", ["clean", "pink10", "far"])
def test_the_verifier_keeps_the_users_held_out_wake_words(detector, enrolled, speed, condition):
    sample = wakeset.Sample(wakeset.WAKE, "piper", speed, condition, seed=11)
    assert best(detector, sample, [enrolled]) >= THRESHOLD


#: near misses of the same voice the plain model wakes on (measured: 0.46-0.93 → 0.92 in the far field)
NEAR = [("hey charlie", "clean"), ("hey charlie", "pink5"), ("hey charlie", "far")]


@pytest.mark.parametrize(("text", "condition"), NEAR)
def test_the_verifier_rejects_near_misses_the_plain_model_wakes_on(detector, enrolled, text, condition):
    # the held-out set's own clip (its seed), which the bench counts as a false wake of the plain model
    sample = next(
        s for s in wakeset.samples(voices=("piper",), speeds=(1.0,)) if (s.text, s.condition) == (text, condition)
    )
    plain = best(detector, sample, [])
    assert plain >= THRESHOLD, f"the plain model no longer wakes on {text!r} ({plain:.2f}): pick another"
    assert best(detector, sample, [enrolled]) < THRESHOLD


def test_enroll_stores_the_verifier_the_engine_then_uses_and_remove_deletes_it(tmp_path, detector, caplog):
    wavs = [str(write_wav(tmp_path / f"take{i}.wav", t)) for i, t in enumerate(takes())]
    other = str(write_wav(tmp_path / "other.wav", negatives()[0]))
    state = tmp_path / "state"
    assert cli.main(["enroll", "--state-dir", str(state), "--wav", *wavs, "--negative-wav", other]) == 0
    path = verifier.verifier_path(state)
    assert path.is_file() and [v.model for v in verifier.load(path)] == ["hey_jarvis"]
    assert not list(state.glob(".wake-verifier-*"))  # the temporary file was renamed into place
    gated = GatedWakeDetector(detector)
    with caplog.at_level(logging.INFO):
        assert verifier.attach_stored(gated, state) == ["hey_jarvis"]
    assert "wake verifier enrolled for hey_jarvis" in caplog.text
    detector.use_verifiers([])
    assert cli.main(["enroll", "--state-dir", str(state), "--remove"]) == 0
    assert not path.exists()


@pytest.mark.parametrize("damage", [b"not a zip", b"PK\x03\x04" + b"\x00" * 40, None])
def test_a_damaged_verifier_file_is_reported_and_ignored(tmp_path, detector, enrolled, caplog, damage):
    path = verifier.verifier_path(tmp_path)
    if damage is None:  # a readable file whose weights do not fit the model
        bad = verifier.LinearVerifier("hey_jarvis", np.zeros(3), np.ones(3), np.ones(3), 0.0)
        verifier.save(path, [bad])
    else:
        path.write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        assert verifier.attach_stored(detector, tmp_path) == []
    assert "ignored" in caplog.text
    assert detector.verified == [] and detector._model.custom_verifier_models == {}
    sample = wakeset.Sample(wakeset.WAKE, "piper", 1.0, "clean", seed=3)
    assert wakeset.score_all([sample], detector)[0].score >= THRESHOLD  # the plain model still hears it


def test_enroll_refuses_bad_takes_and_names_them(detector):
    good = takes()
    no_wake = wakeset.speech("Could you pass me the salt, please?", "piper", 1.0)
    with pytest.raises(enroll.EnrollError) as info:
        enroll.enroll([good[0], silence(2.0), no_wake, good[1]], negatives(), WakeSettings(), detector=detector)
    message = str(info.value)
    assert "take 2: no speech heard" in message and "take 3: the wake model scored it" in message
    assert "take 1" not in message and "take 4" not in message
    clipped = np.clip(good[2].astype(np.int32) * 8, -32768, 32767).astype(np.int16)
    with pytest.raises(enroll.EnrollError, match="take 3: clipped"):
        enroll.enroll([good[0], good[1], clipped], negatives(), WakeSettings(), detector=detector)
    with pytest.raises(enroll.EnrollError, match="3 to 5 takes"):
        enroll.enroll(good[:2], negatives(), WakeSettings(), detector=detector)
    with pytest.raises(enroll.EnrollError, match="at least 3 s"):
        enroll.enroll(good[:3], [silence(1.0)], WakeSettings(), detector=detector)


def test_the_verifier_threshold_must_not_exceed_a_wake_threshold():
    WakeSettings(threshold=0.5, verifier_threshold=0.3).validate()
    with pytest.raises(SettingsError, match="wake.verifier_threshold"):
        WakeSettings(threshold=0.5, verifier_threshold=0.6).validate()
    with pytest.raises(SettingsError, match="wake.verifier_threshold"):
        WakeSettings(thresholds={"hey_jarvis": 0.4}, verifier_threshold=0.45).validate()
    with pytest.raises(SettingsError, match="out of range"):
        WakeSettings(verifier_threshold=0.0).validate()


def test_loading_a_stored_verifier_does_not_import_scikit_learn(tmp_path, enrolled):
    verifier.save(verifier.verifier_path(tmp_path), [enrolled])
    code = (
        "import sys; from pathlib import Path\n"
        "from appliance.config.settings import WakeSettings\n"
        "from appliance.wake.oww import OpenWakeWordDetector\n"
        "from appliance.wake.verifier import attach_stored\n"
        f"used = attach_stored(OpenWakeWordDetector(WakeSettings()), Path({str(tmp_path)!r}))\n"
        "print(used, sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'joblib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "['hey_jarvis'] []", out.stderr[-2000:]


@pytest.mark.parametrize("damaged", [False, True])
def test_appliance_run_uses_the_stored_verifier_and_survives_a_damaged_one(tmp_path, enrolled, damaged):
    path = verifier.verifier_path(tmp_path / "state")
    if damaged:
        path.parent.mkdir()
        path.write_bytes(b"garbage")
    else:
        verifier.save(path, [enrolled])
    mic = write_wav(tmp_path / "mic.wav", concat(silence(1.0), synth("Hey Jarvis!"), silence(3.0)))
    result = run(tmp_path, mic, "--pace", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    wakes = result.of("wake")
    assert len(wakes) == 1 and wakes[0]["model"] == "hey_jarvis" and wakes[0]["score"] >= THRESHOLD
    if damaged:
        assert "wake verifier ignored" in result.stderr and "Traceback" not in result.stderr
    else:
        assert result.stderr.count("wake verifier enrolled for hey_jarvis") == 1


def test_recording_from_the_microphone_asks_again_for_a_bad_take(tmp_path, detector):
    """The interactive path on the real WAV microphone: each take is a 3 s window; the second is silence."""
    window = round(enroll_command.TAKE_SECONDS / 0.08) * 1280

    def fit(audio: np.ndarray) -> np.ndarray:
        return np.concatenate([audio, np.zeros(window - len(audio), np.int16)])[:window]

    good = takes()
    audio = concat(fit(good[0]), fit(silence(0.1)), fit(good[1]), fit(good[2]), negatives()[0], silence(10.0))
    said: list[str] = []
    mic = WavMicrophone(write_wav(tmp_path / "mic.wav", audio), pace=0)
    got, others = enroll_command.record(mic, detector, "hey_jarvis", 3, said.append)
    assert len(got) == 3  # the third window (the second good take) is take 2; WAV round trip: ±1 LSB
    assert np.abs(got[1][: len(good[1])].astype(np.int32) - good[1]).max() <= 1
    assert "  take 2: no speech heard: speak closer to the microphone; once more" in said
    assert sum(line.startswith("take 2 of 3") for line in said) == 2
    assert len(others) == 1 and len(others[0]) == round(enroll_command.NEGATIVE_SECONDS / 0.08) * 1280
    verifier_ = enroll.enroll(got, others, WakeSettings(), detector=detector)
    assert verifier_.model == "hey_jarvis" and verifier_.takes == 3
