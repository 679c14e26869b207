"""The stand-in for OpenAI's realtime transcription WebSocket, on 127.0.0.1, for tests and ``scripts/run``.

It speaks the protocol the ``openai`` SDK parses (``session.created`` on connect, ``session.update`` answered by
``session.updated``, ``input_audio_buffer.append`` / ``commit`` answered by ``input_audio_buffer.committed``, then
transcription deltas and ``...transcription.completed``), enforces the API's rules that matter here (a
transcription session, 24 kHz PCM, base64 audio, no empty commit, the bearer key), and records what it received.
Each connection takes the next :class:`Script` (transcript, latency, fault), or the default one.

Point the SDK at it with ``openai.OpenAI(..., websocket_base_url=fake.ws_base_url)``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

RATE = 24000
MIN_COMMIT_SECONDS = 0.1  # the API refuses to commit less audio than this


class Fault(StrEnum):
    NONE = "none"
    REFUSE = "refuse"  # the upgrade is answered with an HTTP status (Script.status)
    CLOSE = "close"  # the socket closes after Script.close_after appends
    STALL = "stall"  # the commit is never answered (the socket stays open and keeps reading)
    ERROR = "error"  # the commit is answered with an error event
    WRONG_ORDER = "wrong_order"  # the transcript completes before the commit is acknowledged


@dataclass
class Script:
    transcript: str = "What is the weather like in Paris today?"
    deltas: int = 4
    """The transcript arrives in this many deltas before the completion."""
    latency: float = 0.0
    """Seconds between the commit and the first delta (the cloud's transcription time)."""
    fault: Fault = Fault.NONE
    status: int = 401
    close_after: int = 3


@dataclass
class Session:
    """What one connection sent, for assertions."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    config: dict[str, Any] | None = None
    closed: threading.Event = field(default_factory=threading.Event)

    def types(self) -> list[str]:
        return [str(m.get("type")) for m in self.messages]

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / 2 / RATE


class FakeRealtime:
    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.sessions: list[Session] = []
        self.refused = 0
        self._scripts: deque[Script] = deque()
        self._default = Script()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------------------------------

    def start(self) -> FakeRealtime:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
            close_timeout=0.2,
            max_size=None,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-realtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeRealtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.socket.getsockname()[1])

    @property
    def ws_base_url(self) -> str:
        """For the SDK's ``websocket_base_url`` (it appends ``/realtime``)."""
        return f"ws://127.0.0.1:{self.port}/v1"

    def script(self, *scripts: Script) -> None:
        """The next connections follow these scripts, in order; later ones follow ``default``."""
        with self._lock:
            self._scripts.extend(scripts)

    def default(self, script: Script) -> None:
        self._default = script

    def wait_sessions(self, count: int, timeout: float = 5.0) -> list[Session]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.sessions) >= count, timeout):
                raise TimeoutError(f"{len(self.sessions)} realtime sessions, expected {count}")
            return list(self.sessions)

    # --- the server -----------------------------------------------------------------------------------

    def _next_script(self) -> Script:
        with self._lock:
            return self._scripts.popleft() if self._scripts else self._default

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path != "/v1/realtime":
            return connection.respond(404, "not found\n")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return connection.respond(401, "invalid api key\n")
        script = self._next_script()
        if script.fault is Fault.REFUSE:
            with self._lock:
                self.refused += 1
            return connection.respond(script.status, "refused\n")
        connection.script = script  # type: ignore[attr-defined]
        return None

    def _event(self, kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, "event_id": f"event_{next(self._ids)}", **fields})

    def _handle(self, ws: ServerConnection) -> None:
        script: Script = getattr(ws, "script", self._default)
        assert ws.request is not None
        parts = urlsplit(ws.request.path)
        session = Session(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in ws.request.headers.raw_items()})
        with self._lock:
            self.sessions.append(session)
            self._lock.notify_all()
        appends = 0
        committed = False
        try:
            if session.query.get("intent") != ["transcription"]:
                ws.send(self._error("invalid_request_error", "missing_intent", "intent=transcription expected"))
            ws.send(self._event("session.created", session={"type": "transcription", "id": "sess_fake"}))
            for raw in ws:
                message = json.loads(raw)
                session.messages.append(message)
                kind = message.get("type")
                if kind == "session.update":
                    problem = self._check_config(message.get("session") or {})
                    if problem:
                        ws.send(self._error("invalid_request_error", "invalid_value", problem))
                        continue
                    session.config = message["session"]
                    ws.send(self._event("session.updated", session=session.config))
                elif kind == "input_audio_buffer.append":
                    try:
                        session.audio += base64.b64decode(message.get("audio", ""), validate=True)
                    except binascii.Error:
                        ws.send(self._error("invalid_request_error", "invalid_value", "audio is not base64"))
                        continue
                    appends += 1
                    if script.fault is Fault.CLOSE and appends >= script.close_after:
                        ws.close(1011, "internal error")
                        return
                elif kind == "input_audio_buffer.commit":
                    if committed or script.fault is Fault.STALL:
                        continue
                    if session.audio_seconds < MIN_COMMIT_SECONDS:
                        ws.send(
                            self._error("invalid_request_error", "input_audio_buffer_commit_empty", "buffer too small")
                        )
                        continue
                    committed = True
                    self._transcribe(ws, script, session)
                else:
                    ws.send(self._error("invalid_request_error", "unknown_event", f"unknown event {kind!r}"))
        except ConnectionClosed:
            pass  # the client went away: what it sent is recorded
        finally:
            session.closed.set()

    def _transcribe(self, ws: ServerConnection, script: Script, session: Session) -> None:
        item = f"item_{next(self._ids)}"
        if script.fault is Fault.ERROR:
            ws.send(self._error("server_error", "server_error", "The server had an error"))
            return
        committed = self._event("input_audio_buffer.committed", item_id=item, previous_item_id=None)
        if script.fault is not Fault.WRONG_ORDER:
            ws.send(committed)
        if script.latency:
            time.sleep(script.latency)  # the cloud's transcription time (this connection's own thread)
        words = script.transcript.split(" ")
        n = max(1, min(script.deltas, len(words)))
        size = -(-len(words) // n)
        for i in range(0, len(words), size):
            delta = " ".join(words[i : i + size]) + (" " if i + size < len(words) else "")
            ws.send(
                self._event(
                    "conversation.item.input_audio_transcription.delta", item_id=item, content_index=0, delta=delta
                )
            )
        ws.send(
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item,
                content_index=0,
                transcript=script.transcript,
                usage={"type": "duration", "seconds": round(session.audio_seconds, 3)},
            )
        )
        if script.fault is Fault.WRONG_ORDER:
            ws.send(committed)

    def _error(self, kind: str, code: str, message: str) -> str:
        return self._event("error", error={"type": kind, "code": code, "message": message, "param": None})

    @staticmethod
    def _check_config(config: dict[str, Any]) -> str:
        if config.get("type") != "transcription":
            return "session.type must be 'transcription' on a transcription connection"
        audio_in = (config.get("audio") or {}).get("input") or {}
        fmt = audio_in.get("format") or {}
        if fmt.get("type") != "audio/pcm" or fmt.get("rate") != RATE:
            return "audio.input.format must be audio/pcm at 24000 Hz"
        if not (audio_in.get("transcription") or {}).get("model"):
            return "audio.input.transcription.model is required"
        return ""
