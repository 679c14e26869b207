"""`appliance doctor`: the cloud checks against the fake cloud, the machine checks for real."""

from __future__ import annotations

import io

import numpy as np
import pytest

from appliance.config.settings import Secrets, Settings
from appliance.host import doctor
from standin.cloud import Json, Status


def settings_for(cloud, openai_key="sk-doctor-0123456789", eleven_key="el-doctor-0123456789"):
    s = Settings()
    s.secrets = Secrets(
        openai_api_key=openai_key,
        elevenlabs_api_key=eleven_key,
        openai_base_url=cloud.openai_base_url,
        elevenlabs_base_url=cloud.elevenlabs_base_url,
    )
    return s


def test_keys_accepted_with_latency(cloud):
    cloud.default(
        "models",
        Json({"object": "list", "data": [{"id": "gpt-6-luna", "object": "model", "created": 0, "owned_by": "openai"}]}),
    )
    cloud.default("user", Json({"subscription": {"tier": "starter"}}))
    s = settings_for(cloud)
    assert doctor.check_openai(s).status == "OK" and "ms" in doctor.check_openai(s).message
    assert doctor.check_elevenlabs(s).status == "OK"
    assert cloud.of("user")[0].headers["xi-api-key"] == "el-doctor-0123456789"


def test_refused_keys_fail_with_a_fix(cloud):
    cloud.default("models", Status(401, "Incorrect API key provided", error_type="invalid_request_error"))
    cloud.default("user", Status(401, "invalid key"))
    s = settings_for(cloud)
    openai = doctor.check_openai(s)
    assert openai.status == "FAIL" and "auth" in openai.message and "OPENAI_API_KEY" in openai.fix
    eleven = doctor.check_elevenlabs(s)
    assert eleven.status == "FAIL" and "ELEVENLABS_API_KEY" in eleven.fix


def test_missing_keys():
    check = doctor.check_keys(Settings())
    assert check.status == "FAIL" and "OPENAI_API_KEY" in check.message and "/etc/appliance/env" in check.fix


def test_unreachable_cloud():
    s = Settings()
    s.secrets = Secrets(
        openai_api_key="sk-x",
        elevenlabs_api_key="el-x",
        openai_base_url="http://127.0.0.1:9/v1",
        elevenlabs_base_url="http://127.0.0.1:9",
    )
    assert doctor.check_openai(s).status == "FAIL"
    assert doctor.check_elevenlabs(s).status == "FAIL"


def test_machine_checks_run_for_real(mock_pins):
    assert doctor.check_disk("/").status == "OK"
    assert doctor.check_memory().status == "OK"
    assert doctor.check_clock().status in ("OK", "WARN", "FAIL")
    assert doctor.check_wake_model(Settings()).status == "OK"
    assert doctor.check_gpio(Settings()).status == "WARN"  # mock pins: simulated GPIO says so
    assert doctor.check_camera(Settings()).status == "WARN"  # no picamera2 here


def test_run_doctor_prints_and_exits_non_zero_on_failure(cloud):
    out = io.StringIO()
    s = settings_for(cloud)
    code = doctor.run_doctor(s, out=out, checks=[lambda: doctor.check_keys(s), lambda: doctor.check_disk("/")])
    assert code == 0 and out.getvalue().count("OK") == 2
    out = io.StringIO()
    code = doctor.run_doctor(Settings(), out=out, checks=[lambda: doctor.check_keys(Settings())])
    assert code == 1 and "fix:" in out.getvalue()
    assert "sk-doctor" not in out.getvalue()


# --- the enrolled wake verifier ------------------------------------------------------------------------


def stored_verifier(directory, model="hey_jarvis", features=16 * 96):
    from appliance.wake import verifier

    path = verifier.verifier_path(directory)
    n = features
    verifier.save(path, [verifier.LinearVerifier(model, np.zeros(n), np.ones(n), np.zeros(n), 0.0, takes=4)])
    return path


def test_no_verifier_enrolled_is_fine(tmp_path):
    check = doctor.check_wake_verifier(Settings(), tmp_path)
    assert check.status == "OK" and "none enrolled" in check.message


def test_an_enrolled_verifier_that_fits_is_ok(tmp_path):
    stored_verifier(tmp_path)
    check = doctor.check_wake_verifier(Settings(), tmp_path)
    assert check.status == "OK" and "hey_jarvis enrolled" in check.message, check


@pytest.mark.parametrize("damage", [b"not a zip", b"PK\x03\x04" + b"\x00" * 40, b""])
def test_a_damaged_verifier_is_reported(tmp_path, damage):
    from appliance.wake import verifier

    verifier.verifier_path(tmp_path).write_bytes(damage)
    check = doctor.check_wake_verifier(Settings(), tmp_path)
    assert check.status == "FAIL" and "damaged, so ignored" in check.message, check
    assert "appliance enroll" in check.fix


@pytest.mark.parametrize(
    "model,features,problem",
    [("hey_jarvis", 3, "trained for a model of another shape"), ("alexa", 16 * 96, "not in wake.models")],
)
def test_a_verifier_the_appliance_would_ignore_is_reported(tmp_path, model, features, problem):
    stored_verifier(tmp_path, model, features)
    check = doctor.check_wake_verifier(Settings(), tmp_path)
    assert check.status == "FAIL" and problem in check.message, check


def test_the_default_checks_look_at_the_state_directory(tmp_path, monkeypatch):
    from appliance.wake import verifier

    verifier.verifier_path(tmp_path).write_bytes(b"not a zip")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    out = io.StringIO()
    checks = doctor.default_checks(Settings(), out)
    found = [c() for c in checks[3:5]]  # after the keys and the cloud: the wake word, then its verifier
    assert [c.name for c in found] == ["wake word", "verifier"] and found[1].status == "FAIL"


# --- GPIO -----------------------------------------------------------------------------------------------


def test_a_typo_in_the_pin_factory_fails_the_gpio_check(monkeypatch):
    from gpiozero import Device

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    previous, Device.pin_factory = Device.pin_factory, None
    try:
        s = Settings()
        s.gpio.pin_factory = "lgpi0"
        check = doctor.check_gpio(s)
        assert check.status == "FAIL" and "unknown pin factory 'lgpi0'" in check.message and "lgpio" in check.message
        assert "pin_factory" in check.fix
        assert Device.pin_factory is None  # no mock pins slipped in
    finally:
        Device.pin_factory = previous


def test_offline_mode_loads_its_recogniser_and_counts_its_cached_speech(tmp_path):
    from appliance.config.settings import Settings
    from appliance.host.builders import offline_speech

    settings = Settings()
    check = doctor.check_offline(settings, tmp_path)
    assert check.status == doctor.WARN and f"0 of {len(offline_speech(settings))} offline phrases" in check.message
    assert "online once" in check.fix
    folder = tmp_path / "phrases"
    folder.mkdir()
    for key in offline_speech(settings):
        (folder / f"{key}.wav").write_bytes(b"RIFF")
    check = doctor.check_offline(settings, tmp_path)
    assert check.status == doctor.OK and "phrases are cached" in check.message
    settings.local.offline = False
    assert doctor.check_offline(settings, tmp_path).message.startswith("off")
