"""What the realtime transcription session is configured with, and how it fails (shared by the session and
its fallback without importing the SDK)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from appliance.errors import ApplianceError, ErrorKind

API_RATE = 24000  # the only rate of the realtime API's audio/pcm input
MIC_RATE = 16000


class Failure(StrEnum):
    CONNECT = "connect"  # no TCP connection or no handshake in time
    REFUSED = "refused"  # the server answered the upgrade with an HTTP status (401, 403, 5xx)
    CLOSED = "closed"  # the socket closed before the transcript
    STALL = "stall"  # no transcript within the time allowed
    ERROR_EVENT = "error_event"  # an ``error`` or ``...transcription.failed`` event
    PROTOCOL = "protocol"  # events out of order (or for another item), or malformed
    OVERFLOW = "overflow"  # the worker fell behind the microphone (the socket does not take audio)
    STATE = "state"  # the caller used the session out of order


class RealtimeSttError(ApplianceError):
    """Streaming transcription failed; the recording is still in memory, so the caller uploads it instead."""

    def __init__(self, failure: Failure, message: str, *, status: int | None = None) -> None:
        kind = ErrorKind.AUTH if status in (401, 403) else ErrorKind.STT
        super().__init__(kind, message, stage="stt.realtime", retryable=True)
        self.failure = failure
        self.status = status


@dataclass(frozen=True)
class RealtimeSttOptions:
    model: str = "gpt-live-transcribe"
    language: str = ""
    noise_reduction: str = ""
    """"" (off), "near_field" or "far_field"."""
    connect_timeout: float = 3.0
    finish_timeout: float = 1.5
    """Longest wait after the commit for the final transcript (capped by the turn's deadline)."""
    queue_frames: int = 400
    """Frames (80 ms) the listener may be ahead of the socket before the session gives up: 32 s."""
