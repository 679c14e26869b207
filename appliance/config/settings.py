"""Typed, documented settings: a TOML file, then environment overrides, then validation.

File: ``--config PATH``, else ``/etc/appliance/config.toml`` when it exists. Every key can be overridden
from the environment as ``APPLIANCE_<SECTION>__<KEY>`` (e.g. ``APPLIANCE_WAKE__THRESHOLD=0.6``). Secrets
come only from the environment: ``OPENAI_API_KEY``, ``ELEVENLABS_API_KEY`` (and ``OPENAI_BASE_URL``,
``ELEVENLABS_BASE_URL`` for other endpoints; see :mod:`appliance.config.secrets`). A bad value raises
:class:`SettingsError` naming the key. After validation the settings are frozen: many threads read them, and
what changes at run time (the volume a tool sets) is the owner's own state, not a setting.

Engines are chosen by name (``wake.engine``, ``vad.engine``, ``stt.provider``, ``tts.provider``,
``audio.backend``); the names are looked up in the registries of :mod:`appliance.registry` when the
appliance is built, so a plug-in engine needs no change here.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from appliance.config import reference
from appliance.config.frontend import FrontEndSettings
from appliance.config.listening import EndpointSettings as EndpointSettings
from appliance.config.listening import VadSettings as VadSettings
from appliance.config.listening import WakeSettings as WakeSettings
from appliance.config.mcp import McpSettings
from appliance.config.metrics import MetricsSettings
from appliance.config.secrets import Secrets
from appliance.config.types import Section, SettingsError, check_choice, check_name, check_range, coerce

__all__ = ["DEFAULT_CONFIG", "Secrets", "Settings", "SettingsError", "describe", "load"]

DEFAULT_CONFIG = Path("/etc/appliance/config.toml")
ENV_PREFIX = "APPLIANCE_"
SECRET_PREFIX = "APPLIANCE_SECRET__"  # secrets of other providers (appliance.config.secrets), not settings


@dataclass
class AudioSettings(Section):
    backend: str = "pyaudio"
    """Audio engine, by name: "pyaudio" (ALSA/PulseAudio devices) or "wavfile"; --mic/--speaker use WAV files."""
    input_device: str = ""
    """Microphone: PyAudio device index or part of its name; "" = the default input."""
    output_device: str = ""
    """Speaker: PyAudio device index or part of its name; "" = the default output."""
    volume: float = 0.8
    """Playback volume, 0.0 to 1.0 (tools can change it at run time)."""
    earcons: bool = True
    """Play a chime on wake and a tone on errors."""
    playback_block_ms: int = 40
    """Playback is written in blocks of this size; cancelling stops within about one block."""

    def validate(self) -> None:
        check_name("audio.backend", self.backend)
        check_range("audio.volume", self.volume, 0.0, 1.0)
        check_range("audio.playback_block_ms", self.playback_block_ms, 5, 200)


@dataclass
class GpioSettings(Section):
    status_led_pin: int | None = 17
    """Plain LED (on/off/blink) showing the state; none to disable."""
    pwm_led_pin: int | None = 18
    """PWM LED (breathing/pulsing) showing the state; none to disable."""
    rgb_led_pins: tuple[int, ...] = ()
    """Optional RGB LED as [red, green, blue] BCM pins; empty to disable."""
    button_pin: int | None = 27
    """Push button to ground (internal pull-up); none to disable."""
    camera_led_pin: int | None = 22
    """LED lit while the camera captures a frame; none to disable."""
    long_press_seconds: float = 2.0
    """Holding the button this long toggles the microphone mute."""
    pin_factory: str = ""
    """gpiozero pin factory (lgpio, rpigpio, native, mock); "" = gpiozero's choice, mock when off a Pi.
    GPIOZERO_PIN_FACTORY in the environment wins."""

    def validate(self) -> None:
        check_range("gpio.long_press_seconds", self.long_press_seconds, 0.3, 30.0)
        if self.rgb_led_pins and len(self.rgb_led_pins) != 3:
            raise SettingsError("gpio.rgb_led_pins: needs exactly three pins [red, green, blue]")
        pins = [
            p for p in (self.status_led_pin, self.pwm_led_pin, self.button_pin, self.camera_led_pin) if p is not None
        ] + list(self.rgb_led_pins)
        for pin in pins:
            check_range("gpio pin", pin, 0, 27)
        if len(set(pins)) != len(pins):
            raise SettingsError(f"gpio: the same pin is used twice in {sorted(pins)}")


# the cloud sections live in their own module; re-exported here ("X as X")
from appliance.config.cloud import DEFAULT_INSTRUCTIONS as DEFAULT_INSTRUCTIONS  # noqa: E402
from appliance.config.cloud import AssistantSettings as AssistantSettings  # noqa: E402
from appliance.config.cloud import SttSettings as SttSettings  # noqa: E402
from appliance.config.cloud import TtsSettings as TtsSettings  # noqa: E402
from appliance.config.household import HouseholdSettings as HouseholdSettings  # noqa: E402


@dataclass
class CameraSettings(Section):
    enabled: bool = True
    """Allow the describe_image tool to use the camera."""
    camera_num: int = 0
    """Which camera picamera2 opens (0 = the first; a Pi 5 has two camera ports)."""
    width: int = 1024
    """Width of a captured frame in pixels (the camera is configured once for stills of this size)."""
    height: int = 768
    """Height of a captured frame in pixels."""
    detail: Literal["low", "high", "auto"] = "low"
    """Image detail sent to the model: "low", "high" or "auto"."""
    capture_timeout: float = 5.0
    """Seconds a capture may take before the tool gives up (a stuck camera never hangs the turn)."""
    max_bytes: int = 4_000_000
    """Frames larger than this are refused (the model would reject them)."""
    separate_request: bool = False
    """Describe the image in a separate vision request and hand the model text (see docs/vision.md)."""
    vision_model: str = ""
    """Model for the separate vision request; "" = the assistant's model."""

    def validate(self) -> None:
        check_range("camera.camera_num", self.camera_num, 0, 7)
        check_range("camera.width", self.width, 64, 4608)
        check_range("camera.height", self.height, 64, 3456)
        check_range("camera.capture_timeout", self.capture_timeout, 0.1, 60.0)
        check_range("camera.max_bytes", self.max_bytes, 1024, 50_000_000)


@dataclass
class ControlSettings(Section):
    socket: str = ""
    """Unix socket for `appliance ctl`; "" = $RUNTIME_DIRECTORY/control.sock under systemd, else none."""

    def validate(self) -> None:
        pass


@dataclass
class LoggingSettings(Section):
    level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR (any case)."""

    def validate(self) -> None:
        check_choice("logging.level", self.level.upper(), ("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass
class TimersSettings(Section):
    enabled: bool = True
    """Offer the timer tools (set, list, cancel, add time); timers live in the state directory."""
    ring_seconds: float = 60.0
    """A ringing timer stops by itself after this long (a press or the wake word stops it sooner)."""

    def validate(self) -> None:
        check_range("timers.ring_seconds", self.ring_seconds, 3.0, 900.0)


@dataclass
class LocalSettings(Section):
    enabled: bool = True
    """Answer the device's own commands on the device, without the model: timers (set, how long left, cancel),
    volume (louder, quieter, to a level), the time, stop, never mind, forget. Only whole sentences that match
    a command template; anything else goes to the model."""
    language: str = "en"
    """The language of the command templates (`appliance/local/<language>.yaml`; English only for now)."""
    commands: list[str] = field(default_factory=list)
    """The local commands that are on ([] = all): timer_start, timer_status, timer_cancel, timer_cancel_all,
    volume_set, volume_up, volume_down, time, stop, never_mind, forget."""
    offline: bool = True
    """When the cloud cannot be reached, recognise the local commands on the device (pocketsphinx, held to the
    commands' grammar) and answer them from cached speech; anything else gets "I'm offline right now". The
    network is probed until it is back. Needs `enabled`."""
    offline_verify: bool = True
    """Offline: a command heard under the grammar must be confirmed by a free recognition with pocketsphinx's
    general English model (the same command, or its numbers with mostly the same words or sounds; ~80 MB more
    while offline, ~1 s to load): far fewer other sentences are taken for a command, more commands are missed,
    most in noise (docs/performance.md)."""
    offline_probe_seconds: float = 2.0
    """Offline: the first probe of the cloud's hosts (a TCP connection, nothing sent) this long after a failure;
    the pause doubles after each probe that fails, up to `offline_probe_max_seconds`."""
    offline_probe_max_seconds: float = 60.0
    """Offline: the longest pause between two probes."""

    def validate(self) -> None:
        from appliance.config.local import Intent

        check_choice("local.language", self.language, ("en",))
        known = tuple(i.value for i in Intent)
        for name in self.commands:
            check_choice("local.commands", name, known)
        check_range("local.offline_probe_seconds", self.offline_probe_seconds, 0.1, 3600)
        check_range("local.offline_probe_max_seconds", self.offline_probe_max_seconds, self.offline_probe_seconds, 3600)


@dataclass
class DebugSettings(Section):
    keep_audio: bool = False
    """Write recorded questions and captured images to `dir` (off: nothing is stored on disk)."""
    dir: str = "/var/lib/appliance/debug"
    keep_files: int = 200
    """The most files `dir` keeps: the oldest questions and images go first."""
    keep_mb: float = 50.0
    """The most megabytes `dir` keeps (the oldest files go first)."""

    def validate(self) -> None:
        check_range("debug.keep_files", self.keep_files, 1, 100_000)
        check_range("debug.keep_mb", self.keep_mb, 0.1, 100_000.0)


@dataclass
class Settings(Section):
    audio: AudioSettings = field(default_factory=AudioSettings)
    gpio: GpioSettings = field(default_factory=GpioSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    stt: SttSettings = field(default_factory=SttSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    timers: TimersSettings = field(default_factory=TimersSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    frontend: FrontEndSettings = field(default_factory=FrontEndSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    debug: DebugSettings = field(default_factory=DebugSettings)
    household: HouseholdSettings = field(default_factory=HouseholdSettings)
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate()

    def providers(self) -> list[str]:
        """The cloud (or local) providers the selected engines use: the ones whose keys are needed."""
        return list(dict.fromkeys(["openai", self.stt.provider, self.tts.provider]))


SECTIONS = [f.name for f in dataclasses.fields(Settings) if f.name != "secrets"]


def load(path: str | os.PathLike[str] | None = None, env: typing.Mapping[str, str] | None = None) -> Settings:
    """Load settings from ``path`` (or the default file if present) and ``env``. Raises SettingsError."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(_read_config(p))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{p}: not valid TOML: {exc}") from None
    settings = Settings()
    for section_name, values in data.items():
        if section_name not in SECTIONS:
            raise SettingsError(f"[{section_name}]: unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise SettingsError(f"{section_name}: must be a table ([{section_name}])")
        section = getattr(settings, section_name)
        for key, value in values.items():
            _set(section, section_name, key, value)
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name.startswith(SECRET_PREFIX):
            continue
        section_name, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section_name not in SECTIONS:
            raise SettingsError(f"{name}: unknown section {section_name!r} (known: {', '.join(SECTIONS)})")
        _set(getattr(settings, section_name), section_name, key, _parse_env(raw), from_env=name)
    settings.validate()
    settings.secrets = Secrets.from_env(env, required=settings.providers())
    settings.freeze()
    return settings


def _read_config(p: Path) -> str:
    """The file's text, or SettingsError with one line naming the problem (a traceback here would exit 1,
    which systemd answers with a restart loop). A UTF-8 byte order mark, as Windows editors write, is
    accepted."""
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise SettingsError(f"{p}: is a directory, not a config file (name the .toml file inside)") from None
    except PermissionError:
        raise SettingsError(
            f"{p}: cannot read the config file (permission denied: the service user needs read "
            "access, e.g. `chgrp appliance` and `chmod 640`)"
        ) from None
    except OSError as exc:
        raise SettingsError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SettingsError(f"{p}: the file is UTF-16 text: save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SettingsError(
            f"{p}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save the file as UTF-8"
        ) from None


def _set(section: Any, section_name: str, key: str, value: Any, from_env: str = "") -> None:
    where = from_env or f"{section_name}.{key}"
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise SettingsError(f"{where}: unknown key {key!r} in [{section_name}] (known: {known})")
    setattr(section, key, coerce(where, hints[key], value))


def _parse_env(raw: str) -> Any:
    """Environment values are TOML literals when they parse as one (numbers, true, [1, 2]), else strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def describe() -> str:
    """The configuration reference (used for the README and `appliance config reference`)."""
    return reference.describe(Settings, SECTIONS)
