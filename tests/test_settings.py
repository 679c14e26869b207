import subprocess
import sys

import pytest

from appliance import settings as s


def test_defaults_validate():
    config = s.load(path=None, env={})
    assert config.wake.models == ("hey_jarvis",)
    assert config.endpoint.trailing_silence == 0.7
    assert config.gpio.long_press_seconds == 2.0


def test_file_then_environment_override(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[wake]\nthreshold = 0.6\nmodels = ["alexa"]\n[gpio]\nbutton_pin = 5\n')
    config = s.load(path, env={"APPLIANCE_WAKE__THRESHOLD": "0.7",
                               "APPLIANCE_GPIO__RGB_LED_PINS": "[5, 6, 13]",
                               "APPLIANCE_GPIO__BUTTON_PIN": "26"})
    assert config.wake.threshold == 0.7
    assert config.wake.models == ("alexa",)
    assert config.gpio.rgb_led_pins == (5, 6, 13)
    assert config.gpio.button_pin == 26


def test_secrets_only_from_environment_and_hidden_from_repr():
    config = s.load(None, env={"OPENAI_API_KEY": "sk-secret-value", "ELEVENLABS_BASE_URL": "http://127.0.0.1:9"})
    assert config.secrets.openai_api_key == "sk-secret-value"
    assert config.secrets.elevenlabs_base_url == "http://127.0.0.1:9"
    assert "sk-secret-value" not in repr(config)
    assert config.secrets.redact("key sk-secret-value here") == "key *** here"


def test_missing_keys_name_the_variable_and_how_to_set_it():
    lines = s.Secrets().missing()
    assert any("OPENAI_API_KEY" in line and "/etc/appliance/env" in line for line in lines)
    assert any("ELEVENLABS_API_KEY" in line for line in lines)


@pytest.mark.parametrize("text,env,message", [
    ("[wake]\nthreshold = 2.0\n", {}, "wake.threshold"),
    ("[wake]\nthreshold = 'high'\n", {}, "wake.threshold: expected a number"),
    ("[nope]\nx = 1\n", {}, "unknown section"),
    ("[wake]\nthreshhold = 0.5\n", {}, "unknown key 'threshhold'"),
    ("[wake\n", {}, "not valid TOML"),
    ("", {"APPLIANCE_ENDPOINT__MAX_SECONDS": "abc"}, "APPLIANCE_ENDPOINT__MAX_SECONDS: expected a number"),
    ("[gpio]\nbutton_pin = 17\n", {}, "the same pin is used twice"),
    ("[tts]\nsample_rate = 44100\n", {}, "tts.sample_rate"),
])
def test_bad_values_name_the_key(tmp_path, text, env, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(s.SettingsError) as info:
        s.load(path, env=env)
    assert message in str(info.value)


def test_none_disables_a_pin(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[gpio]\ncamera_led_pin = "none"\n')
    assert s.load(path, env={}).gpio.camera_led_pin is None


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[audio]\nvolume = 3\n")
    proc = subprocess.run([sys.executable, "-m", "appliance", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "audio.volume" in lines[0], proc.stderr


def test_reference_documents_every_key():
    text = s.describe()
    for section in s.SECTIONS:
        assert f"[{section}]" in text
    assert "trailing_silence = 0.7  # Seconds of silence after speech" in text


def test_readme_reference_is_up_to_date():
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    render = runpy.run_path(str(root / "scripts" / "update-readme"), run_name="check")["render"]
    readme = (root / "README.md").read_text()
    assert render(readme) == readme, "run scripts/update-readme: the README's settings reference is stale"
