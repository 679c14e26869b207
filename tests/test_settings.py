import subprocess
import sys

import pytest

from appliance.config import settings as s


def test_defaults_validate():
    config = s.load(path=None, env={})
    assert config.wake.models == ("hey_jarvis",)
    assert config.endpoint.trailing_silence == 0.7
    assert config.gpio.long_press_seconds == 2.0


def test_file_then_environment_override(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[wake]\nthreshold = 0.6\nmodels = ["alexa"]\n[gpio]\nbutton_pin = 5\n')
    config = s.load(
        path,
        env={
            "APPLIANCE_WAKE__THRESHOLD": "0.7",
            "APPLIANCE_GPIO__RGB_LED_PINS": "[5, 6, 13]",
            "APPLIANCE_GPIO__BUTTON_PIN": "26",
        },
    )
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


def test_secrets_are_a_mapping_per_provider_from_the_environment():
    env = {
        "OPENAI_API_KEY": " sk-one-0123 ",
        "ELEVENLABS_API_KEY": "el-two-4567",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "APPLIANCE_SECRET__ACME__TOKEN": "acme-token-89",
    }
    secrets = s.load(None, env=env).secrets
    assert secrets.get("openai", "api_key") == "sk-one-0123"
    assert secrets["elevenlabs"]["api_key"] == "el-two-4567"
    assert secrets.get("openai", "base_url") == "http://127.0.0.1:9/v1"
    assert secrets.get("acme", "token") == "acme-token-89"  # a plug-in engine's provider, same mechanism
    assert secrets.get("piper", "api_key") == "" and "piper" not in secrets
    assert secrets.openai_api_key == "sk-one-0123"  # the well-known values by attribute, as before
    text = "a sk-one-0123 b el-two-4567 c acme-token-89 d http://127.0.0.1:9/v1"
    assert secrets.redact(text) == "a *** b *** c *** d http://127.0.0.1:9/v1"  # addresses are not secrets
    assert "sk-one" not in repr(secrets) and "acme" in repr(secrets)


@pytest.mark.parametrize(
    "config,needed",
    [
        ("", ["OPENAI_API_KEY", "ELEVENLABS_API_KEY"]),
        ('[tts]\nprovider = "piper"\n', ["OPENAI_API_KEY"]),  # piper needs no key
    ],
)
def test_missing_keys_follow_the_selected_providers(tmp_path, config, needed):
    path = tmp_path / "c.toml"
    path.write_text(config)
    lines = s.load(path, env={}).secrets.missing()
    assert [line.split(" ", 1)[0] for line in lines] == needed


def test_settings_are_frozen_after_load_and_use_literals(tmp_path):
    import dataclasses

    config = s.load(None, env={"APPLIANCE_WAKE__MODELS": "alexa, hey_jarvis"})
    assert config.frozen and config.wake.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.audio.volume = 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.wake = s.WakeSettings()
    assert config.wake.models == ("alexa", "hey_jarvis")
    with pytest.raises(TypeError):
        config.wake.thresholds["alexa"] = 0.9  # type: ignore[index]
    made = s.Settings()  # settings made in code stay mutable until frozen (tests build them so)
    made.audio.volume = 0.1
    path = tmp_path / "c.toml"
    path.write_text('[wake]\nwhile_speaking = "shout"\n')
    with pytest.raises(s.SettingsError, match="wake.while_speaking: 'shout' is not one of ignore, boost"):
        s.load(path, env={})


def test_engines_are_named_in_settings_with_defaults():
    config = s.load(None, env={})
    assert (config.wake.engine, config.vad.engine, config.stt.provider, config.tts.provider, config.audio.backend) == (
        "openwakeword",
        "silero",
        "openai",
        "elevenlabs",
        "pyaudio",
    )
    assert s.load(None, env={"APPLIANCE_TTS__PROVIDER": "piper"}).tts.provider == "piper"


@pytest.mark.parametrize(
    "text,env,message",
    [
        ("[wake]\nthreshold = 2.0\n", {}, "wake.threshold"),
        ("[wake]\nthreshold = 'high'\n", {}, "wake.threshold: expected a number"),
        ("[nope]\nx = 1\n", {}, "unknown section"),
        ("[wake]\nthreshhold = 0.5\n", {}, "unknown key 'threshhold'"),
        ("[wake\n", {}, "not valid TOML"),
        ("", {"APPLIANCE_ENDPOINT__MAX_SECONDS": "abc"}, "APPLIANCE_ENDPOINT__MAX_SECONDS: expected a number"),
        ("[gpio]\nbutton_pin = 17\n", {}, "the same pin is used twice"),
        ("[tts]\nsample_rate = 44100\n", {}, "tts.sample_rate: 44100 is not one of 16000, 22050, 24000"),
        ("[tts]\nprovider = ''\n", {}, "tts.provider: name an engine"),
        ("[camera]\ndetail = 'ultra'\n", {}, "camera.detail"),
        ("[tts]\nfirst_flush_words = 21\n", {}, "tts.first_flush_words: 21 is out of range"),
        ("[tts]\nfirst_flush_words = -1\n", {}, "tts.first_flush_words"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, env, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(s.SettingsError) as info:
        s.load(path, env=env)
    assert message in str(info.value)


def test_first_flush_words_defaults_to_two_and_zero_turns_it_off(tmp_path):
    assert s.load(None, env={}).tts.first_flush_words == 2
    path = tmp_path / "c.toml"
    path.write_text("[tts]\nfirst_flush_words = 0\n")
    assert s.load(path, env={}).tts.first_flush_words == 0
    assert s.load(None, env={"APPLIANCE_TTS__FIRST_FLUSH_WORDS": "4"}).tts.first_flush_words == 4
    assert "first_flush_words = 2  # The first audio starts after this many words" in s.describe()


def test_none_disables_a_pin(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[gpio]\ncamera_led_pin = "none"\n')
    assert s.load(path, env={}).gpio.camera_led_pin is None


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[audio]\nvolume = 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "audio.volume" in lines[0], proc.stderr


def test_reference_documents_every_key():
    text = s.describe()
    for section in s.SECTIONS:
        assert f"[{section}]" in text
    assert "trailing_silence = 0.7  # Seconds of silence after speech" in text


def test_configuration_reference_is_up_to_date():
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    render = runpy.run_path(str(root / "scripts" / "update-reference"), run_name="check")["render"]
    page = (root / "docs" / "configuration.md").read_text()
    assert render(page) == page, "run scripts/update-reference: docs/configuration.md's settings reference is stale"
