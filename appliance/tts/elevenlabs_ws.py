"""ElevenLabs' input-streaming WebSocket (``/v1/text-to-speech/{voice_id}/stream-input``): text in as it
streams from the model, raw PCM out, on one connection per turn.

Why a client of our own on ``websockets`` instead of the SDK's ``convert_realtime``: the SDK forces the
``wss`` scheme (so it cannot reach a plain local server), fixes ``chunk_length_schedule`` at [50], reads
audio only between two sends (10 ms polls on the sending thread, so audio waits for the next text), drops
the alignment (which tells which text has been heard, needed to resume over HTTP without replaying it)
and raises raw socket errors. Here sending and receiving are independent and every failure is a typed
:class:`~appliance.errors.ApplianceError`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from appliance.errors import ApplianceError, ErrorKind

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
_STAGE = "tts"


@dataclass(frozen=True)
class AudioPiece:
    pcm: bytes
    """s16le mono PCM at the connection's rate."""
    text: str | None
    """The characters of the sent text this audio speaks (from its alignment; None when it had none)."""


def ws_base_url(http_base_url: str) -> str:
    """``https://host`` → ``wss://host``, ``http://127.0.0.1:8080`` → ``ws://127.0.0.1:8080``."""
    parts = urlsplit(http_base_url or DEFAULT_BASE_URL)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class StreamInputConnection:
    """One input-streaming session. ``send`` and ``receive`` may run on different threads; ``close``
    from any thread makes a blocked ``receive`` fail at once."""

    def __init__(
        self,
        *,
        api_key: str,
        voice_id: str,
        model: str,
        rate: int,
        base_url: str,
        chunk_schedule: list[int],
        speed: float = 1.0,
    ) -> None:
        self._api_key = api_key
        self._rate = rate
        query = urlencode({"model_id": model, "output_format": f"pcm_{rate}"})
        self.url = f"{ws_base_url(base_url)}/v1/text-to-speech/{quote(voice_id, safe='')}/stream-input?{query}"
        self._schedule = chunk_schedule
        self._speed = speed
        self._ws: ClientConnection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.sent = ""
        """Everything sent so far (the alignment counts characters of this)."""

    @property
    def rate(self) -> int:
        return self._rate

    def open(self, timeout: float) -> None:
        """Connect and send the first message. Raises ApplianceError (AUTH, RATE_LIMITED, SERVER,
        CONNECTION, TIMEOUT)."""
        try:
            # entered as the context manager websockets asks for; close() leaves it
            ws = connect(
                self.url,
                additional_headers={"xi-api-key": self._api_key},
                open_timeout=timeout,
                close_timeout=0.5,
                compression=None,
                max_size=2**22,
                ping_interval=None,
            ).__enter__()
        except InvalidStatus as exc:
            raise _status_error(exc.response.status_code) from exc
        except TimeoutError as exc:
            raise ApplianceError(
                ErrorKind.TIMEOUT, f"speech WebSocket did not open within {timeout:.1f} s", stage=_STAGE, retryable=True
            ) from exc
        except (OSError, InvalidHandshake) as exc:
            raise ApplianceError(
                ErrorKind.CONNECTION,
                f"speech WebSocket failed to connect ({type(exc).__name__})",
                stage=_STAGE,
                retryable=True,
            ) from exc
        with self._lock:
            if self._closed:
                ws.close()
                raise ApplianceError(ErrorKind.CONNECTION, "speech WebSocket closed while opening", stage=_STAGE)
            self._ws = ws
        first: dict[str, Any] = {"text": " ", "generation_config": {"chunk_length_schedule": self._schedule}}
        if self._speed != 1.0:
            first["voice_settings"] = {"speed": self._speed}
        self._send(first)

    def send(self, text: str, *, flush: bool = False) -> None:
        """Send text (it should end with a space where a word ends); ``flush`` makes the server speak what
        it holds now (a sentence end)."""
        if not text and not flush:
            return
        message: dict[str, Any] = {"text": text}
        if flush:
            message["flush"] = True
        else:
            message["try_trigger_generation"] = False
        self._send(message)
        self.sent += text

    def end(self) -> None:
        """No more text: the server speaks the rest, then sends its final message."""
        self._send({"text": ""})

    def receive(self, timeout: float) -> AudioPiece | None:
        """The next piece of audio, or None after the final message. Raises ApplianceError: TIMEOUT when
        nothing came for ``timeout`` seconds (a stall), AUTH/QUOTA/SERVER for an error message,
        CONNECTION when the socket closed."""
        ws = self._ws
        if ws is None:
            raise ApplianceError(ErrorKind.CONNECTION, "speech WebSocket is not open", stage=_STAGE)
        while True:
            try:
                raw = ws.recv(timeout=timeout)
            except TimeoutError as exc:
                raise ApplianceError(
                    ErrorKind.TIMEOUT, f"no speech audio for {timeout:.1f} s", stage=_STAGE, retryable=True
                ) from exc
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else "no close frame"
                raise ApplianceError(
                    ErrorKind.CONNECTION, f"speech WebSocket closed ({code})", stage=_STAGE, retryable=True
                ) from exc
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise _malformed("a message that is not JSON") from exc
            piece = _piece_of(data)
            if piece is not _NOTHING:
                return piece

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # a broken socket may complain while closing; it is closed either way
                log.debug("closing the speech WebSocket failed", exc_info=True)

    def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise ApplianceError(ErrorKind.CONNECTION, "speech WebSocket is not open", stage=_STAGE)
        try:
            ws.send(json.dumps(message))
        except (ConnectionClosed, OSError) as exc:
            raise ApplianceError(
                ErrorKind.CONNECTION, "speech WebSocket closed while sending", stage=_STAGE, retryable=True
            ) from exc


_NOTHING = AudioPiece(b"", None)
"""A message that carries neither audio nor the end (the service's bookkeeping): read the next one."""


def _piece_of(data: object) -> AudioPiece | None:
    """What a parsed message says: audio, the end (None) or nothing (``_NOTHING``). A message the protocol
    does not allow (a wrong type, audio that is not base64) is a TTS error: the audio in it, and what was
    said after it, cannot be known."""
    if not isinstance(data, dict):
        raise _malformed("a message that is not an object")
    if "message" in data or "error" in data:
        raise _message_error(data)
    audio, final = data.get("audio"), data.get("isFinal")
    if not isinstance(audio, str | None) or not isinstance(final, bool | None):
        raise _malformed("a message with fields of the wrong type")
    if audio:
        try:
            pcm = base64.b64decode(audio, validate=True)
        except ValueError as exc:
            raise _malformed("audio that is not base64") from exc
        return AudioPiece(pcm, _aligned(data.get("alignment") or data.get("normalizedAlignment")))
    return None if final else _NOTHING


def _aligned(alignment: object) -> str | None:
    """The characters an alignment names, or None when the message had none."""
    if alignment is None:
        return None
    chars = alignment.get("chars") if isinstance(alignment, dict) else None
    if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
        raise _malformed("an alignment of the wrong type")
    return "".join(chars)


def _malformed(what: str) -> ApplianceError:
    return ApplianceError(ErrorKind.TTS, f"speech WebSocket sent {what}", stage=_STAGE)


def _status_error(status: int) -> ApplianceError:
    if status in (401, 403):
        return ApplianceError(ErrorKind.AUTH, f"ElevenLabs refused the API key ({status})", stage=_STAGE)
    if status == 402:
        return ApplianceError(ErrorKind.QUOTA, "ElevenLabs quota exhausted (402)", stage=_STAGE)
    if status == 429:
        return ApplianceError(ErrorKind.RATE_LIMITED, "ElevenLabs rate limit (429)", stage=_STAGE, retryable=True)
    if status >= 500:
        return ApplianceError(ErrorKind.SERVER, f"ElevenLabs server error {status}", stage=_STAGE, retryable=True)
    return ApplianceError(ErrorKind.CONNECTION, f"speech WebSocket refused ({status})", stage=_STAGE)


def _message_error(data: dict[str, Any]) -> ApplianceError:
    text = f"{data.get('error', '')} {data.get('message', '')}".strip()[:200]
    lowered = text.lower()
    if "api_key" in lowered or "api key" in lowered or "unauthorized" in lowered:
        return ApplianceError(ErrorKind.AUTH, f"ElevenLabs refused the API key: {text}", stage=_STAGE)
    if "quota" in lowered:
        return ApplianceError(ErrorKind.QUOTA, f"ElevenLabs quota exhausted: {text}", stage=_STAGE)
    return ApplianceError(ErrorKind.SERVER, f"ElevenLabs speech error: {text}", stage=_STAGE, retryable=True)
