"""Typed errors. Every failure that reaches the turn becomes an ``error`` event with one of these kinds."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    CONNECTION = "connection"
    AUTH = "auth"
    QUOTA = "quota"
    BAD_REQUEST = "bad_request"
    BAD_TOOL_CALL = "bad_tool_call"
    TOOL_FAILED = "tool_failed"
    TOOL_TIMEOUT = "tool_timeout"
    TOO_MANY_ROUNDS = "too_many_rounds"
    RESPONSE_FAILED = "response_failed"
    CAMERA = "camera"
    AUDIO = "audio"
    TTS = "tts"
    STT = "stt"
    WAKE = "wake"
    CONFIG = "config"
    INTERNAL = "internal"


class ApplianceError(Exception):
    """An error with a kind the rest of the appliance can react to (LED, earcon, spoken phrase)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        stage: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        """``retry_after``: the seconds the service asked to wait before a retry (a rate limit's header)."""
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.stage = stage
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApplianceError({self.kind.value!r}, {self.message!r}, stage={self.stage!r})"


class MissingResource(ApplianceError):
    """A resource the appliance needs at start is absent (a model file, an audio device): restarting will
    not bring it back. The message says what is missing and then what to do."""

    def __init__(self, kind: ErrorKind, message: str, fix: str) -> None:
        super().__init__(kind, f"{message}: {fix}", stage="start")
        self.fix = fix


class CameraError(ApplianceError):
    def __init__(self, message: str):
        super().__init__(ErrorKind.CAMERA, message, stage="camera")


class Cancelled(Exception):
    """Raised inside a stage when its turn was cancelled (button, stop, shutdown). Not an error."""
