"""A stand-in for ElevenLabs' input-streaming text-to-speech WebSocket on 127.0.0.1.

``ws://127.0.0.1:PORT/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=pcm_24000``

The protocol as the service speaks it: the first message carries a single space as ``text`` (plus
``voice_settings``, ``generation_config.chunk_length_schedule`` and, when not in the header, the key as
``xi-api-key``); then text messages (``try_trigger_generation``, ``flush``); ``{"text": ""}`` ends the input.
Audio comes back as ``{"audio": <base64 PCM>, "isFinal": null, "alignment": {"chars", "charStartTimesMs",
"charDurationsMs"}, "normalizedAlignment": {...}}``, generated whenever the buffered text reaches the next
length of the schedule, on a flush, and at the end; the last message is ``{"isFinal": true}``, then the
server closes. Errors are ``{"message": ..., "error": ..., "code": ...}`` followed by a close.

Faults are scripted per connection (a queue of :class:`Fault`, then the default behaviour): a refused
upgrade (HTTP status at the handshake), a close after N audio messages, a stall after N, an error message
(401, quota), an early final message, a garbage frame, and a connection-setup delay or a handshake held
until the test lets it go. Every connection's messages, and the text of each audio message it sent, are
recorded for assertions.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from standin.ws_server import WsServer

#: Milliseconds of audio the stand-in makes per character (about 14 characters a second, as speech).
MS_PER_CHAR = 70


@dataclass
class Fault:
    refuse: int | None = None
    """Answer the upgrade with this HTTP status (401, 403, 500...) instead of switching protocols."""
    setup_delay: float = 0.0
    """Seconds before the handshake is answered (a slow TLS setup)."""
    hold: threading.Event | None = None
    """The handshake is answered only once this is set (a stalled handshake while it is not)."""
    close_after: int | None = None
    """Close the connection abruptly after this many audio messages."""
    stall_after: int | None = None
    """Stop answering (but keep the socket open) after this many audio messages."""
    error: str | None = None
    """Send an error message ("invalid_api_key", "quota_exceeded") after ``error_after`` audio messages."""
    error_after: int = 0
    first_audio_delay: float = 0.0
    """Seconds between the first generation trigger and its audio (the service's latency)."""
    final_after: int | None = None
    """Send the final message (``isFinal``) and close after this many audio messages, whatever text is left."""
    garbage: str | None = None
    """A frame sent once, as it is, in place of audio message ``garbage_after`` (then the session goes on)."""
    garbage_after: int = 0
    alignment: bool = True
    """Send each audio message's alignment (off: ``"alignment": null``, as when the service sends none)."""


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_messages: int = 0
    voiced: list[str] = field(default_factory=list)
    """The text of each audio message sent (what its alignment names), in order."""
    garbage_sent: bool = False
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def text(self) -> str:
        """All text the client sent (the initial space excluded)."""
        return "".join(str(m.get("text", "")) for m in self.messages[1:])

    @property
    def flushes(self) -> int:
        return sum(1 for m in self.messages if m.get("flush"))


def tone_for(text: str, rate: int, seed: int) -> bytes:
    """Deterministic s16le audio for ``text``: MS_PER_CHAR per character, a tone set by ``seed``."""
    n = int(len(text) * MS_PER_CHAR / 1000 * rate)
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * (300 + 37 * (seed % 16)) * t)
    return (x * 32767).astype("<i2").tobytes()


class FakeStreamInputTTS(WsServer):
    """Serve with ``with FakeStreamInputTTS() as tts:``; point the client at ``tts.url``."""

    thread_name = "fake-tts-ws"
    serve_options: ClassVar[dict[str, Any]] = {"compression": None, "ping_interval": None}

    def __init__(self, api_key: str = "el-test-fakecloud-0123456789", host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.api_key = api_key
        self._faults: deque[Fault] = deque()
        self._default = Fault()
        self._lock = threading.Lock()
        self.connections: list[Connection] = []
        self.attempts = 0
        self._generation = 0
        self._stopping = threading.Event()

    # --- control

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def default(self, fault: Fault) -> None:
        with self._lock:
            self._default = fault

    def stop(self) -> None:
        """Let go of held handshakes first: the server waits for every handler as it stops."""
        self._stopping.set()
        super().stop()

    @property
    def url(self) -> str:
        """The base URL (ws://host:port) the client's ``ws_base_url`` takes."""
        return self.origin

    # --- the server

    def _next_fault(self) -> Fault:
        with self._lock:
            self.attempts += 1
            return self._faults.popleft() if self._faults else self._default

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        fault = self._next_fault()
        connection.fault = fault  # type: ignore[attr-defined]
        if fault.setup_delay:
            self._stopping.wait(fault.setup_delay)
        while fault.hold is not None and not fault.hold.is_set() and not self._stopping.is_set():
            fault.hold.wait(0.05)
        if fault.refuse is not None:
            return connection.respond(HTTPStatus(fault.refuse), f"refused with {fault.refuse}\n")
        parts = urlsplit(request.path)
        if not (parts.path.startswith("/v1/text-to-speech/") and parts.path.endswith("/stream-input")):
            return connection.respond(HTTPStatus.NOT_FOUND, "no such route\n")
        # recorded before the client hears the answer, so a test never races the handler thread
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = Connection(parts.path, query, {k.lower(): v for k, v in request.headers.raw_items()})
        connection.record = record  # type: ignore[attr-defined]
        with self._lock:
            self.connections.append(record)
        return None

    def _handle(self, ws: ServerConnection) -> None:
        fault: Fault = getattr(ws, "fault", self._default)
        conn: Connection = ws.record  # type: ignore[attr-defined]
        try:
            self._session(ws, conn, fault)
        except ConnectionClosed:
            pass
        finally:
            conn.closed.set()

    def _session(self, ws: ServerConnection, conn: Connection, fault: Fault) -> None:
        rate = int(conn.query.get("output_format", "pcm_24000").split("_")[-1])
        first = json.loads(ws.recv())
        conn.messages.append(first)
        key = conn.headers.get("xi-api-key") or first.get("xi-api-key") or first.get("xi_api_key")
        if key != self.api_key:
            self._error(ws, "invalid_api_key", "Invalid API key", 1008)
            return
        schedule = list((first.get("generation_config") or {}).get("chunk_length_schedule") or [120, 160, 250, 290])
        buffer = ""
        generations = 0
        while True:
            message = json.loads(ws.recv())
            conn.messages.append(message)
            text = str(message.get("text", ""))
            end = text == ""
            buffer += text
            threshold = schedule[min(generations, len(schedule) - 1)]
            if buffer.strip() and (end or message.get("flush") or len(buffer) >= threshold):
                if generations == 0 and fault.first_audio_delay:
                    time.sleep(fault.first_audio_delay)
                if not self._audio(ws, conn, fault, buffer, rate):
                    return
                generations += 1
                buffer = ""
            if end:
                ws.send(json.dumps({"isFinal": True}))
                ws.close()
                return

    def _audio(self, ws: ServerConnection, conn: Connection, fault: Fault, text: str, rate: int) -> bool:
        """Send the audio for ``text`` in two messages (as the service splits a generation); False when a
        fault ended the session."""
        with self._lock:
            self._generation += 1
            seed = self._generation
        pcm = tone_for(text, rate, seed)
        half = (len(text) + 1) // 2
        pieces = [(text[:half], pcm[: len(pcm) // 4 * 2]), (text[half:], pcm[len(pcm) // 4 * 2 :])]
        for chars, audio in pieces:
            if not chars:
                continue
            n = conn.audio_messages
            if fault.garbage is not None and n >= fault.garbage_after and not conn.garbage_sent:
                conn.garbage_sent = True
                ws.send(fault.garbage)
            if fault.final_after is not None and n >= fault.final_after:
                ws.send(json.dumps({"isFinal": True}))
                ws.close()
                return False
            if fault.error is not None and n >= fault.error_after:
                code = 1008 if fault.error == "invalid_api_key" else 1011
                self._error(ws, fault.error, f"simulated {fault.error}", code)
                return False
            if fault.close_after is not None and n >= fault.close_after:
                ws.close(1011, "simulated failure")
                return False
            if fault.stall_after is not None and n >= fault.stall_after:
                for _ in ws:  # hold the socket open and say nothing until the client gives up
                    pass
                return False
            starts = [i * MS_PER_CHAR for i in range(len(chars))]
            alignment = {
                "chars": list(chars),
                "charStartTimesMs": starts,
                "charDurationsMs": [MS_PER_CHAR] * len(chars),
            }
            ws.send(
                json.dumps(
                    {
                        "audio": base64.b64encode(audio).decode(),
                        "isFinal": None,
                        "alignment": alignment if fault.alignment else None,
                        "normalizedAlignment": alignment if fault.alignment else None,
                    }
                )
            )
            conn.voiced.append(chars)
            conn.audio_messages += 1
        return True

    @staticmethod
    def _error(ws: ServerConnection, error: str, message: str, code: int) -> None:
        ws.send(json.dumps({"message": message, "error": error, "code": code}))
        ws.close(code, message[:100])
