"""A local fake cloud on 127.0.0.1 that speaks the wire formats the appliance's SDKs use.

One ``ThreadingHTTPServer`` serves:

- ``POST /v1/responses``                         OpenAI Responses (SSE stream)        route "responses"
- ``POST /v1/audio/transcriptions``              OpenAI transcription (multipart)    route "transcriptions"
- ``POST /v1/text-to-speech/{voice}/stream``     ElevenLabs streaming TTS (chunked)   route "tts"
- ``GET  /v1/models``                            a cheap "are the keys accepted" probe route "models"

Each route answers from a per-test *script*: a queue of replies consumed one per request (so faults are
injected by request number), then the route's default handler. A reply is a :class:`Reply` or a callable
``(request) -> Reply`` for answers that depend on what was sent. Every request is logged in
``cloud.requests`` so tests assert on what the appliance sent. The real SDKs talk to it via base URLs.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    number: int  # 1-based, per route
    route: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # id of the TCP connection it came on (to check keep-alive reuse)
    time: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def multipart(self) -> dict[str, Any]:
        """Fields of a multipart/form-data body: str for text fields, (filename, bytes) for files."""
        raw = b"Content-Type: " + self.headers.get("content-type", "").encode() + b"\r\n\r\n" + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        out: dict[str, Any] = {}
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            out[name] = (filename, data) if filename else data.decode()
        return out


class Reply:
    """Base: write a response to ``handler``. ``ttfb`` delays the status line."""

    ttfb: float = 0.0

    def send(self, handler: _Handler) -> None:
        raise NotImplementedError


@dataclass
class Json(Reply):
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    ttfb: float = 0.0

    def send(self, handler: _Handler) -> None:
        data = json.dumps(self.body).encode()
        handler.send_response(self.status)
        for k, v in {"Content-Type": "application/json", **self.headers}.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def Status(
    status: int,
    message: str = "",
    *,
    retry_after: float | None = None,
    code: str | None = None,
    error_type: str = "error",
) -> Json:
    """An API error in OpenAI's shape (ElevenLabs SDKs read the status and body too)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    body = {"error": {"message": message or f"status {status}", "type": error_type, "code": code}}
    return Json(body, status=status, headers=headers)


@dataclass
class Stall(Reply):
    """Accept the request and send nothing for ``seconds`` (then close the connection)."""

    seconds: float = 30.0

    def send(self, handler: _Handler) -> None:
        handler.server.stall_wait(self.seconds)
        handler.close_connection = True


@dataclass
class Reset(Reply):
    """Close the TCP connection abruptly (RST) without answering."""

    def send(self, handler: _Handler) -> None:
        handler.reset()


@dataclass
class Stream(Reply):
    """A chunked streaming body: ``parts`` are written as they come, ``delay`` seconds apart.

    ``disconnect_after`` cuts the connection after that many parts (no terminating chunk), like a dropped
    network mid-stream. ``stall_after`` stops sending for ``stall_seconds`` after that many parts."""

    parts: Iterable[bytes]
    content_type: str = "application/octet-stream"
    status: int = 200
    delay: float = 0.0
    ttfb: float = 0.0
    disconnect_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, handler: _Handler) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        for k, v in self.headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.flush()
        for index, part in enumerate(self.parts):
            if self.disconnect_after is not None and index >= self.disconnect_after:
                handler.reset()
                return
            if self.stall_after is not None and index >= self.stall_after:
                handler.server.stall_wait(self.stall_seconds)
                handler.close_connection = True
                return
            if index and self.delay:
                if handler.server.stall_wait(self.delay):
                    return
            if not part:
                continue
            try:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                handler.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                handler.close_connection = True
                return
        if self.disconnect_after is not None and self.disconnect_after <= 0:
            handler.reset()
            return
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def sse(events: Iterable[dict[str, Any]], **kwargs: Any) -> Stream:
    """Server-sent events: each dict becomes ``event: <type>`` + ``data: <json>``, one chunk each."""
    parts = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    return Stream(parts, content_type="text/event-stream; charset=utf-8", **kwargs)


Handler = Callable[[Request], Reply]

ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("POST", "responses", re.compile(r"^/v1/responses$")),
    ("POST", "transcriptions", re.compile(r"^/v1/audio/transcriptions$")),
    ("POST", "tts", re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)/stream$")),
    ("GET", "models", re.compile(r"^/v1/models$")),
    ("GET", "user", re.compile(r"^/v1/user$")),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.new_connection()

    def reset(self) -> None:
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        for method, route, pattern in ROUTES:  # noqa: B007 (route is used after the loop)
            if method == self.command and pattern.match(path):
                break
        else:
            Status(404, f"no route {self.command} {path}").send(self)
            return
        request = self.server.cloud._record(
            route, self.command, self.path, dict(self.headers.items()), body, self.connection_id
        )
        reply = self.server.cloud._next_reply(route, request)
        if reply.ttfb and self.server.stall_wait(reply.ttfb):
            return
        try:
            reply.send(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    cloud: FakeCloud

    def __init__(self, cloud: FakeCloud, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.cloud = cloud
        self._connections = 0
        self._lock = threading.Lock()
        self.closing = threading.Event()

    def new_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-reply (a cancelled stream, a reset we injected) is normal here."""
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, OSError)):
            super().handle_error(request, client_address)

    def stall_wait(self, seconds: float) -> bool:
        """Wait, but stop at once when the server shuts down. True if shutting down."""
        return self.closing.wait(seconds)


class FakeCloud:
    """Start with ``with FakeCloud() as cloud:``; point the SDKs at ``cloud.openai_base_url`` etc."""

    def __init__(self, port: int = 0) -> None:
        """``port``: a fixed one (a test brings "the internet" back on the port the appliance was given)."""
        self._server = _Server(self, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakecloud", daemon=True
        )
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply | Handler]] = defaultdict(deque)
        self._defaults: dict[str, Handler] = {}
        self._counts: dict[str, int] = defaultdict(int)
        self.requests: list[Request] = []
        self._cond = threading.Condition(self._lock)

    # --- lifecycle
    def start(self) -> FakeCloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def elevenlabs_base_url(self) -> str:
        return self.url

    @property
    def connections(self) -> int:
        return self._server._connections

    def env(self) -> dict[str, str]:
        """Environment that points the appliance at this server (with dummy keys)."""
        return {
            "OPENAI_API_KEY": "sk-test-fakecloud-0123456789",
            "ELEVENLABS_API_KEY": "el-test-fakecloud-0123456789",
            "OPENAI_BASE_URL": self.openai_base_url,
            "ELEVENLABS_BASE_URL": self.elevenlabs_base_url,
        }

    # --- scripting
    def script(self, route: str, *replies: Reply | Handler) -> None:
        """Queue replies for the next requests on ``route`` (one each, in order)."""
        with self._lock:
            self._scripts[route].extend(replies)

    def default(self, route: str, handler: Handler | Reply) -> None:
        """What ``route`` answers once its script is used up."""
        self._defaults[route] = handler if callable(handler) else (lambda _r, h=handler: h)  # type: ignore[misc]

    def of(self, route: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def wait_requests(self, route: str, count: int, timeout: float = 10.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if r.route == route]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(got)} {route} requests, wanted {count}")
                self._cond.wait(remaining)

    # --- internals
    def _record(
        self, route: str, method: str, path: str, headers: dict[str, str], body: bytes, connection: int
    ) -> Request:
        with self._cond:
            self._counts[route] += 1
            request = Request(
                self._counts[route], route, method, path, {k.lower(): v for k, v in headers.items()}, body, connection
            )
            self.requests.append(request)
            self._cond.notify_all()
            return request

    def _next_reply(self, route: str, request: Request) -> Reply:
        with self._lock:
            item = self._scripts[route].popleft() if self._scripts[route] else None
        if item is None:
            handler = self._defaults.get(route)
            if handler is None:
                return Status(500, f"fake cloud: nothing scripted for {route}")
            item = handler
        return item if isinstance(item, Reply) else item(request)
