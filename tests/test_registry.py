"""Engines by name: the registries, their entry points, and what an unknown name says."""

from __future__ import annotations

import sys
import textwrap

import pytest

from appliance.config.settings import SettingsError
from appliance.registry import Registry


def test_register_and_look_up():
    registry: Registry[object] = Registry("widget", "x.widget", "appliance.test-none")
    factory = registry.register("one", lambda settings: "made one")
    assert registry.get("one") is factory and registry.names() == ["one"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register("one", lambda settings: "another")


def test_an_unknown_name_is_a_settings_error_listing_the_known_ones():
    from appliance.tts import SYNTHESIZERS

    with pytest.raises(SettingsError) as info:
        SYNTHESIZERS.get("elevenlab")
    assert str(info.value) == "tts.provider: unknown text-to-speech engine 'elevenlab' (known: elevenlabs, piper)"


@pytest.mark.parametrize(
    "module,name,registry,expected",
    [
        ("appliance.audio", "AUDIO_BACKENDS", "audio.backend", ["pyaudio", "wavfile"]),
        ("appliance.wake", "WAKE_ENGINES", "wake.engine", ["openwakeword"]),
        ("appliance.wake", "VAD_ENGINES", "vad.engine", ["silero"]),
        ("appliance.stt", "TRANSCRIBERS", "stt.provider", ["openai"]),
        ("appliance.tts", "SYNTHESIZERS", "tts.provider", ["elevenlabs", "piper"]),
    ],
)
def test_every_engine_kind_has_its_registry(module, name, registry, expected):
    import importlib

    found = getattr(importlib.import_module(module), name)
    assert found.setting == registry and set(expected) <= set(found.names())


def test_a_package_adds_an_engine_through_an_entry_point(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info on sys.path), found by importlib.metadata."""
    (tmp_path / "acme_voice.py").write_text(
        textwrap.dedent("""
        def make(settings):
            return ("acme synthesizer", settings)
        broken = None
    """)
    )
    dist = tmp_path / "acme_voice-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-voice\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[appliance.test-tts]\nacme = acme_voice:make\nbroken = acme_voice:broken\nmissing = no_such_module:x\n"
        "elevenlabs = acme_voice:make\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry("text-to-speech engine", "tts.provider", "appliance.test-tts")
    builtin = registry.register("elevenlabs", lambda settings: "built in")
    assert registry.get("acme")("settings") == ("acme synthesizer", "settings")
    assert registry.get("elevenlabs") is builtin  # a plug-in cannot replace a built-in engine
    assert registry.names() == ["acme", "elevenlabs"]  # the broken ones are logged and skipped
    with pytest.raises(SettingsError, match="known: acme, elevenlabs"):
        registry.get("missing")
    sys.modules.pop("acme_voice", None)


def test_an_unknown_engine_in_the_config_stops_the_start_with_exit_2(tmp_path):
    import subprocess

    from standin.headless import ROOT, appliance_env
    from standin.voice import silence, write_wav

    mic = write_wav(tmp_path / "mic.wav", silence(0.5))
    config = tmp_path / "c.toml"
    config.write_text('[vad]\nengine = "webrtc"\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "run",
            "--config",
            str(config),
            "--mic",
            str(mic),
            "--speaker",
            str(tmp_path / "out.wav"),
        ],
        cwd=ROOT,
        env=appliance_env(home=tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "vad.engine: unknown voice-activity engine 'webrtc' (known: silero)" in proc.stderr
    assert "Traceback" not in proc.stderr
