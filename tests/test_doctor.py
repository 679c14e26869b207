"""`appliance doctor`: the cloud checks against the fake cloud, the machine checks for real."""

from __future__ import annotations

import io

from appliance import doctor
from appliance.settings import Secrets, Settings
from appliance.sim.cloud import Json, Status


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
