"""Typed, documented settings: a TOML file, then environment overrides, then validation.

File: ``--config PATH``, else ``/etc/appliance/config.toml`` when it exists. Every key can be overridden
from the environment as ``APPLIANCE_<SECTION>__<KEY>`` (e.g. ``APPLIANCE_WAKE__THRESHOLD=0.6``). Secrets
come only from the environment: ``OPENAI_API_KEY``, ``ELEVENLABS_API_KEY`` (and ``OPENAI_BASE_URL``,
``ELEVENLABS_BASE_URL`` for other endpoints). A bad value raises :class:`SettingsError` naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/appliance/config.toml")
ENV_PREFIX = "APPLIANCE_"


class SettingsError(ValueError):
    """One clear line: which key, what is wrong."""


@dataclass
class AudioSettings:
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
        _range("audio.volume", self.volume, 0.0, 1.0)
        _range("audio.playback_block_ms", self.playback_block_ms, 5, 200)


@dataclass
class GpioSettings:
    status_led_pin: int | None = 17
    """Plain LED (on/off/blink) showing the state; none to disable."""
    pwm_led_pin: int | None = 18
    """PWM LED (breathing/pulsing) showing the state; none to disable."""
    rgb_led_pins: list[int] = field(default_factory=list)
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
        _range("gpio.long_press_seconds", self.long_press_seconds, 0.3, 30.0)
        if self.rgb_led_pins and len(self.rgb_led_pins) != 3:
            raise SettingsError("gpio.rgb_led_pins: needs exactly three pins [red, green, blue]")
        pins = [p for p in (self.status_led_pin, self.pwm_led_pin, self.button_pin, self.camera_led_pin)
                if p is not None] + list(self.rgb_led_pins)
        for pin in pins:
            _range("gpio pin", pin, 0, 27)
        if len(set(pins)) != len(pins):
            raise SettingsError(f"gpio: the same pin is used twice in {sorted(pins)}")


@dataclass
class WakeSettings:
    models: list[str] = field(default_factory=lambda: ["hey_jarvis"])
    """Built-in names (hey_jarvis, alexa, hey_mycroft, hey_rhasspy, okay_nabu) or paths to .tflite/.onnx."""
    threshold: float = 0.5
    """Score (0..1) a model must reach to wake."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per-model thresholds, e.g. {hey_jarvis = 0.6}; others use `threshold`."""
    refractory_seconds: float = 2.0
    """After a wake, the same model cannot wake again for this long."""
    while_speaking: str = "boost"
    """Wake word while the appliance speaks: "ignore", or "boost" (needs threshold + speaking_boost)."""
    speaking_boost: float = 0.3
    """Added to the threshold while speaking, so the appliance does not wake on its own voice."""
    preroll_seconds: float = 0.5
    """Audio kept from before the wake word's end / the button press, so the first syllable is kept."""
    follow_up: bool = True
    """Listen again without the wake word when the answer ends in a question."""
    follow_up_seconds: float = 4.0
    """How long a follow-up waits for speech to start."""
    runtime: str = "tflite"
    """Inference runtime for the models: "tflite" (LiteRT) or "onnx"."""

    def validate(self) -> None:
        if not self.models:
            raise SettingsError("wake.models: name at least one model")
        _range("wake.threshold", self.threshold, 0.01, 1.0)
        for name, value in self.thresholds.items():
            _range(f"wake.thresholds.{name}", value, 0.01, 1.0)
        _range("wake.refractory_seconds", self.refractory_seconds, 0.0, 60.0)
        _choice("wake.while_speaking", self.while_speaking, ("ignore", "boost"))
        _range("wake.speaking_boost", self.speaking_boost, 0.0, 1.0)
        _range("wake.preroll_seconds", self.preroll_seconds, 0.0, 3.0)
        _range("wake.follow_up_seconds", self.follow_up_seconds, 0.5, 30.0)
        _choice("wake.runtime", self.runtime, ("tflite", "onnx"))


@dataclass
class EndpointSettings:
    vad_threshold: float = 0.5
    """Voice-activity probability above which a frame counts as speech."""
    trailing_silence: float = 0.7
    """Seconds of silence after speech that end the recording."""
    start_timeout: float = 5.0
    """If no speech starts within this many seconds, the turn ends quietly (no cloud request)."""
    max_seconds: float = 15.0
    """Hard cap on a recording; what was recorded is still sent."""
    min_speech_seconds: float = 0.15
    """Speech shorter than this (a click, a cough) does not start a question."""

    def validate(self) -> None:
        _range("endpoint.vad_threshold", self.vad_threshold, 0.05, 0.99)
        _range("endpoint.trailing_silence", self.trailing_silence, 0.1, 5.0)
        _range("endpoint.start_timeout", self.start_timeout, 0.5, 60.0)
        _range("endpoint.max_seconds", self.max_seconds, 1.0, 120.0)
        _range("endpoint.min_speech_seconds", self.min_speech_seconds, 0.0, 2.0)


DEFAULT_INSTRUCTIONS = (
    "You are a voice assistant on a small device with a speaker, a microphone and a camera. "
    "Your answers are spoken aloud: keep them short (one to three sentences unless asked for more), "
    "conversational, with no markdown, lists, URLs, emojis or code. Say numbers and units as words would "
    "be read. Use the describe_image tool whenever the question needs sight. If you need more information, "
    "ask one short question."
)


@dataclass
class AssistantSettings:
    model: str = "gpt-6-luna"
    """OpenAI model for answers: a small, fast one (gpt-5-mini is deprecated, shutdown 2026-12-11)."""
    reasoning_effort: str = "none"
    """Reasoning effort sent with each request ("none" answers fastest); "" leaves the model's default."""
    instructions: str = DEFAULT_INSTRUCTIONS
    """The persona. It tells the model its answers are spoken."""
    max_tool_rounds: int = 5
    """Tool-call rounds per turn before the appliance apologises."""
    tool_timeout: float = 10.0
    """Seconds a tool may run."""
    deadline: float = 20.0
    """A turn never waits longer than this for the model (retries included)."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to the server."""
    read_timeout: float = 15.0
    """Seconds without a byte from the server before the stream counts as stalled."""
    max_retries: int = 2
    """Retries of a failed request (429, 5xx, connection), within the deadline."""
    conversation_idle_seconds: float = 300.0
    """A conversation is forgotten after this long without a turn."""
    max_output_tokens: int = 600
    """Longest answer in tokens (spoken answers are short; this stops a runaway one)."""

    def validate(self) -> None:
        _choice("assistant.reasoning_effort", self.reasoning_effort,
                ("", "none", "minimal", "low", "medium", "high", "xhigh", "max"))
        _range("assistant.max_output_tokens", self.max_output_tokens, 16, 32000)
        _range("assistant.max_tool_rounds", self.max_tool_rounds, 1, 20)
        _range("assistant.tool_timeout", self.tool_timeout, 0.1, 120.0)
        _range("assistant.deadline", self.deadline, 1.0, 300.0)
        _range("assistant.connect_timeout", self.connect_timeout, 0.1, 60.0)
        _range("assistant.read_timeout", self.read_timeout, 0.1, 300.0)
        _range("assistant.max_retries", self.max_retries, 0, 10)
        _range("assistant.conversation_idle_seconds", self.conversation_idle_seconds, 0.0, 86400.0)
        if not self.model:
            raise SettingsError("assistant.model: must not be empty")


@dataclass
class SttSettings:
    model: str = "gpt-transcribe"
    """OpenAI transcription model."""
    language: str = ""
    """Language hint (ISO 639-1, e.g. "en"); "" lets the model detect it."""
    timeout: float = 15.0
    max_retries: int = 2

    def validate(self) -> None:
        _range("stt.timeout", self.timeout, 0.5, 120.0)
        _range("stt.max_retries", self.max_retries, 0, 10)


@dataclass
class TtsSettings:
    voice_id: str = "JBFqnCBsd6RMkjVDRZzb"
    """ElevenLabs voice id."""
    model: str = "eleven_flash_v2_5"
    """ElevenLabs model; flash models have the lowest latency."""
    sample_rate: int = 24000
    """PCM rate asked of ElevenLabs: 16000, 22050 or 24000."""
    speed: float = 1.0
    """Speaking speed (0.7 to 1.2)."""
    timeout: float = 10.0
    """Seconds to wait for the first byte and between bytes."""

    def validate(self) -> None:
        _choice("tts.sample_rate", self.sample_rate, (16000, 22050, 24000))
        _range("tts.speed", self.speed, 0.7, 1.2)
        _range("tts.timeout", self.timeout, 0.5, 120.0)


@dataclass
class CameraSettings:
    enabled: bool = True
    """Allow the describe_image tool to use the camera."""
    camera_num: int = 0
    """Which camera picamera2 opens (0 = the first; a Pi 5 has two camera ports)."""
    width: int = 1024
    """Width of a captured frame in pixels (the camera is configured once for stills of this size)."""
    height: int = 768
    """Height of a captured frame in pixels."""
    detail: str = "low"
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
        _range("camera.camera_num", self.camera_num, 0, 7)
        _range("camera.width", self.width, 64, 4608)
        _range("camera.height", self.height, 64, 3456)
        _choice("camera.detail", self.detail, ("low", "high", "auto"))
        _range("camera.capture_timeout", self.capture_timeout, 0.1, 60.0)
        _range("camera.max_bytes", self.max_bytes, 1024, 50_000_000)


@dataclass
class ControlSettings:
    socket: str = ""
    """Unix socket for `appliance ctl`; "" = $RUNTIME_DIRECTORY/control.sock under systemd, else none."""

    def validate(self) -> None:
        pass


@dataclass
class LoggingSettings:
    level: str = "INFO"

    def validate(self) -> None:
        _choice("logging.level", self.level.upper(), ("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass
class DebugSettings:
    keep_audio: bool = False
    """Write recorded questions and captured images to `dir` (off: nothing is stored on disk)."""
    dir: str = "/var/lib/appliance/debug"

    def validate(self) -> None:
        pass


@dataclass
class Secrets:
    """From the environment only; never printed (repr hides them)."""

    openai_api_key: str = field(default="", repr=False)
    elevenlabs_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    elevenlabs_base_url: str = ""

    @classmethod
    def from_env(cls, env: typing.Mapping[str, str]) -> Secrets:
        return cls(
            openai_api_key=env.get("OPENAI_API_KEY", "").strip(),
            elevenlabs_api_key=env.get("ELEVENLABS_API_KEY", "").strip(),
            openai_base_url=env.get("OPENAI_BASE_URL", "").strip(),
            elevenlabs_base_url=env.get("ELEVENLABS_BASE_URL", "").strip(),
        )

    def missing(self) -> list[str]:
        """One line for each key that is missing, naming the variable and how to set it."""
        lines = []
        if not self.openai_api_key:
            lines.append("OPENAI_API_KEY is not set: add OPENAI_API_KEY=sk-... to /etc/appliance/env "
                         "(or export it in the shell); answers and transcription need it")
        if not self.elevenlabs_api_key:
            lines.append("ELEVENLABS_API_KEY is not set: add ELEVENLABS_API_KEY=... to /etc/appliance/env "
                         "(or export it in the shell); spoken answers need it")
        return lines

    def redact(self, text: str) -> str:
        for secret in (self.openai_api_key, self.elevenlabs_api_key):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


@dataclass
class Settings:
    audio: AudioSettings = field(default_factory=AudioSettings)
    gpio: GpioSettings = field(default_factory=GpioSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    stt: SttSettings = field(default_factory=SttSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    debug: DebugSettings = field(default_factory=DebugSettings)
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate()


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
    settings = Settings(secrets=Secrets.from_env(env))
    for section_name, values in data.items():
        if section_name not in SECTIONS:
            raise SettingsError(f"[{section_name}]: unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise SettingsError(f"{section_name}: must be a table ([{section_name}])")
        section = getattr(settings, section_name)
        for key, value in values.items():
            _set(section, section_name, key, value)
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section_name, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        if section_name not in SECTIONS:
            raise SettingsError(f"{name}: unknown section {section_name!r} (known: {', '.join(SECTIONS)})")
        _set(getattr(settings, section_name), section_name, key, _parse_env(raw), from_env=name)
    settings.validate()
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
        raise SettingsError(f"{p}: cannot read the config file (permission denied: the service user needs read "
                            "access, e.g. `chgrp appliance` and `chmod 640`)") from None
    except OSError as exc:
        raise SettingsError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SettingsError(f"{p}: the file is UTF-16 text: save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SettingsError(f"{p}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save the file "
                            "as UTF-8") from None


def _set(section: Any, section_name: str, key: str, value: Any, from_env: str = "") -> None:
    where = from_env or f"{section_name}.{key}"
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise SettingsError(f"{where}: unknown key {key!r} in [{section_name}] (known: {known})")
    setattr(section, key, _coerce(where, hints[key], value))


def _parse_env(raw: str) -> Any:
    """Environment values are TOML literals when they parse as one (numbers, true, [1, 2]), else strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(where: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(where, arg, value)
            except SettingsError as exc:
                errors.append(str(exc))
        raise SettingsError(errors[0] if errors else f"{where}: bad value {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise SettingsError(f"{where}: expected a string, got {value!r}")
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise SettingsError(f"{where}: expected a list, got {value!r}")
        return [_coerce(f"{where}[{i}]", args[0], v) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{where}: expected a table, got {value!r}")
        return {str(k): _coerce(f"{where}.{k}", args[1], v) for k, v in value.items()}
    raise SettingsError(f"{where}: unsupported setting type {hint!r}")


def _range(key: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise SettingsError(f"{key}: {value!r} is out of range ({low} to {high})")


def _choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")


def describe() -> str:
    """The configuration reference (used for the README and `appliance config --help`)."""
    import inspect

    lines = []
    for section_name in SECTIONS:
        cls = typing.get_type_hints(Settings)[section_name]
        lines.append(f"[{section_name}]")
        source = inspect.getsource(cls)
        docs = _attribute_docs(source)
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            lines.append(f"{f.name} = {_toml_value(default)}  # {docs.get(f.name, '')}".rstrip(" #"))
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    import json

    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _attribute_docs(source: str) -> dict[str, str]:
    import ast

    tree = ast.parse(source.lstrip())
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs
