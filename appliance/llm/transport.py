"""How a model request travels: HTTP streaming (server-sent events) or the Responses API's WebSocket mode.

Both give the same stream events, so the turn does not know which one carried them. The WebSocket keeps
one connection open between turns (opened on demand, or ahead of a turn by :meth:`warm`), which saves the
TCP and TLS set-up of every request and tool round. It falls back to HTTP when the socket fails before the
response starts (a refused upgrade, a 401, an ``error`` message, a close, a stall or a malformed event): that
attempt is sent again over HTTP at once, and HTTP is used for a while (``cool_off`` seconds) before the socket
is tried again. An ``error`` message about the request itself (status 400 or 404, e.g. an unknown
previous_response_id) sends that request over HTTP too, whose status the turn's rules know, but keeps the
socket. A failure after the response started (a malformed event included) is the turn's to handle, as over
HTTP (retry or apology); the connection is dropped then, since a half-read response would still be in it. A
warm socket that the server closed while idle (its limit on a connection's age) is replaced once before the
request counts as failed.

One handshake at a time: a request that finds the socket still opening (the one :meth:`warm` started on the
wake word) waits for that handshake, once, and goes over HTTP at once if it fails or times out; a handshake
that failed starts the cool-off, so no second socket is tried in the same turn. Each wait has its own bound:
the handshake ``connect_timeout`` (websockets' ``open_timeout``), the first event after the request was sent
``min(read_timeout, FIRST_EVENT_SECONDS)``. One response's events over the socket, and the switch to HTTP before
the first one: :mod:`.socket_stream`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast

from appliance.config.settings import SettingsError
from appliance.imports import SDK_IMPORTS
from appliance.llm.openai_socket import OpenAiEndpoint, OpenAiSocket, connect
from appliance.llm.socket_stream import FallbackStream, SocketRefused
from appliance.llm.stream import close_quietly
from appliance.websocket_log import QUIET_CLOSE_LOGGER

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

Transport = Literal["websocket", "http"]
TRANSPORTS: tuple[Transport, ...] = ("websocket", "http")

#: Seconds HTTP is used after the socket failed, before the socket is tried again.
COOL_OFF = 60.0

#: Largest message accepted from the socket (an event is a few hundred bytes; a response's final event
#: repeats the whole output).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: Seconds from sending a request on an open socket to its first event (``response.created`` comes within
#: about a second) before the silent socket counts as stalled and the request goes over HTTP (capped by
#: ``assistant.read_timeout``). The handshake has its own bound (``connect_timeout``), not added to this one.
FIRST_EVENT_SECONDS = 4.0

#: Seconds past ``connect_timeout`` a request waits for a handshake another thread started (websockets ends
#: that one at ``connect_timeout``: this only bounds a hang).
HANDSHAKE_SLACK = 1.0

#: Seconds a warm socket may sit unused before it is closed (the API closes one after 60 minutes anyway;
#: an idle one costs the server a slot and the Pi a thread).
IDLE_CLOSE = 300.0

#: Seconds a close waits for the server's closing handshake.
CLOSE_TIMEOUT = 1.0

_HTTP_ONLY = ("stream", "timeout")


def make_streams(
    client: Callable[[], openai.OpenAI],
    endpoint: OpenAiEndpoint,
    transport: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    idle_close: float = IDLE_CLOSE,
    on_fallback: Callable[[str], None] | None = None,
) -> HttpStreams | SocketStreams:
    """The transport ``assistant.transport`` names, with the assistant's timeouts. ``client`` makes the SDK client
    the HTTP path uses (called once, when HTTP is first needed: the socket itself does without the SDK);
    ``endpoint`` says where the socket is."""
    if transport not in TRANSPORTS:
        raise SettingsError(f"assistant.transport: {transport!r} is not one of {', '.join(TRANSPORTS)}")
    http = HttpStreams(client)
    if transport == "http":
        return http
    return SocketStreams(
        endpoint,
        http,
        open_timeout=connect_timeout,
        first_event_timeout=min(read_timeout, FIRST_EVENT_SECONDS),
        idle_close=idle_close,
        on_fallback=on_fallback,
    )


class HttpStreams:
    """Each request a streamed HTTP POST (``responses.create(stream=True)``) through the SDK, whose client is made
    (and the SDK imported: ~30 MB, over a second on a Pi) the first time a request needs it, or by :meth:`warm`.
    A request's ``timeout`` is its (connect, read) seconds."""

    def __init__(self, client: Callable[[], openai.OpenAI]) -> None:
        self._make_client = client
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def open(self, params: dict[str, Any]) -> Any:
        from appliance.llm.client import make_timeout

        connect_seconds, read_seconds = params["timeout"]
        return self.client().responses.create(**{**params, "timeout": make_timeout(connect_seconds, read_seconds)})

    def client(self) -> openai.OpenAI:
        with SDK_IMPORTS, self._lock:  # another thread may be importing the SDK (the upload's fallback)
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def warm(self) -> None:
        """Load what the first stream would load (the SDK, its response types and streaming code: over a second
        on a Pi), so the first turn's deadline is not spent importing. Nothing is opened: the SDK's HTTP pool
        connects on the first request and keeps its connections."""
        with SDK_IMPORTS:
            import openai.lib.streaming.responses  # noqa: F401

            _ = self.client().responses
            warm_event_types()

    def close(self) -> None:
        """The SDK client owns the HTTP pool."""


class SocketStreams:
    """Requests over one Responses WebSocket, kept open between them, with HTTP as the fallback."""

    def __init__(
        self,
        endpoint: OpenAiEndpoint,
        fallback: HttpStreams,
        *,
        open_timeout: float,
        first_event_timeout: float,
        cool_off: float = COOL_OFF,
        idle_close: float = IDLE_CLOSE,
        clock: Callable[[], float] = time.monotonic,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._fallback = fallback
        self._open_timeout = open_timeout
        self.first_event_timeout = first_event_timeout
        """Seconds from sending a request to its first event before the socket counts as stalled."""
        self._cool_off = cool_off
        self._idle_close = idle_close
        self._idle_timer: threading.Timer | None = None
        self._clock = clock
        self._on_fallback = on_fallback
        self._lock = threading.Lock()
        self._opening: _Opening | None = None
        """The handshake under way, if any: whoever needs the socket meanwhile waits for this one."""
        self._connection: OpenAiSocket | None = None
        self._down_until = -1.0
        self._unreported: str | None = None
        """Why a handshake no request waited for failed (the one on the wake word): the next request that
        goes over HTTP because of it tells ``on_fallback``."""
        self.connections_opened = 0
        """Sockets opened so far (a warm one is reused: this stays at 1 over many requests)."""
        self._fallback_warming: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        """A socket is open (it may still have died unnoticed: a request then opens another)."""
        with self._lock:
            return self._connection is not None

    def open(self, params: dict[str, Any]) -> Any:
        if self._clock() < self._down_until:
            with self._lock:
                why, self._unreported = self._unreported, None
            if why is not None and self._on_fallback is not None:
                self._on_fallback(why)  # the head start failed before this request came
            return self._fallback.open(params)
        return FallbackStream(self, params)

    def warm(self) -> None:
        """Open the socket now (on wake), so the first request does not wait for it. Never raises."""
        if self._clock() < self._down_until:
            return
        try:
            self._connect()
        except Exception:  # logged, and the cool-off started: the request goes over HTTP at once
            return
        self.idle()

    def close(self) -> None:
        with self._lock:
            self._stop_idle_timer()
            connection, self._connection = self._connection, None
        if connection is not None:
            close_quietly(connection)

    # --- for the stream

    def _connect(self) -> tuple[OpenAiSocket, bool]:
        """The open socket and whether it was opened just now (a reused one may have died while idle).

        With a handshake already under way (the one :meth:`warm` started), waits for it instead of starting
        another, and raises if it failed: the caller goes over HTTP (the cool-off has started)."""
        with self._lock:
            if self._connection is not None:
                return self._connection, False
            opening = self._opening
            if opening is None:
                opening = self._opening = _Opening()
                mine = True
            else:
                mine = False
        if not mine:
            if not opening.done.wait(self._open_timeout + HANDSHAKE_SLACK):
                raise SocketRefused("the handshake under way did not end in time")
            if opening.failure is not None or opening.connection is None:
                raise SocketRefused(opening.failure or "the handshake under way failed")
            return opening.connection, True
        try:
            # websockets' own handshake timeout, a bound on one message's size, a bounded close
            connection = connect(
                self._endpoint,
                "responses",
                open_timeout=self._open_timeout,
                max_size=MAX_MESSAGE_BYTES,
                close_timeout=CLOSE_TIMEOUT,
                logger=QUIET_CLOSE_LOGGER,
            )
        except BaseException as exc:
            why = f"the handshake failed: {type(exc).__name__}: {exc}"
            with self._lock:  # before the waiters wake: none of them may start another handshake
                self._down_until = self._clock() + self._cool_off
                self._unreported = why
                self._opening = None
            log.info("assistant: the WebSocket did not open (%s); HTTP for the next %.0f s", why, self._cool_off)
            self._warm_fallback()
            opening.failure = why
            opening.done.set()
            raise
        with self._lock:
            self._connection = connection
            self.connections_opened += 1
            self._opening = None
        opening.connection = connection
        opening.done.set()
        return connection, True

    def send(self, params: dict[str, Any]) -> OpenAiSocket:
        body = {"type": "response.create"} | {key: value for key, value in params.items() if key not in _HTTP_ONLY}
        with self._lock:
            self._stop_idle_timer()  # in use until the response ends
        connection, fresh = self._connect()
        try:
            connection.send(body)
        except Exception:
            if fresh:
                raise
            # the warm socket was closed while idle (the server's limit on a connection's age, a network
            # change): one new socket before giving up on it
            log.info("assistant: the warm WebSocket was closed; opening a new one")
            self.drop()
            connection, _ = self._connect()
            connection.send(body)
        return connection

    def idle(self) -> None:
        """Nothing is in flight on the socket: close it if it stays unused for ``idle_close`` seconds."""
        with self._lock:
            self._stop_idle_timer()
            connection = self._connection
            if connection is None:
                return
            timer = threading.Timer(self._idle_close, self._close_idle, args=(connection,))
            timer.daemon = True
            timer.name = "ws-idle"
            self._idle_timer = timer
        timer.start()

    def _close_idle(self, connection: OpenAiSocket) -> None:
        with self._lock:
            if self._connection is not connection or self._idle_timer is not threading.current_thread():
                return  # replaced, or taken by a request since (this runs in its own Timer thread)
            self._idle_timer = None
            self._connection = None
        log.info("assistant: closing the WebSocket after %.0f s unused", self._idle_close)
        close_quietly(connection)

    def _stop_idle_timer(self) -> None:
        """Under ``self._lock``."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def drop(self) -> None:
        """Forget the socket and close it in the background: a close waits for the server's reply (up to
        ``CLOSE_TIMEOUT``), and whoever drops it (a cancel, the turn) must not."""
        with self._lock:
            self._stop_idle_timer()
            connection, self._connection = self._connection, None
        if connection is not None:
            threading.Thread(target=close_quietly, args=(connection,), name="ws-close", daemon=True).start()

    def failed(self, why: str, *, cool_off: bool = True) -> None:
        """The socket failed this request (it goes over HTTP, and ``on_fallback`` hears it). ``cool_off``: HTTP
        for the next requests too (False when only the request was refused, the socket is fine)."""
        if not cool_off:  # the error message was the whole reply: the socket is clean and stays
            log.info("assistant: the WebSocket refused the request (%s); sending it over HTTP", why)
            return
        self.drop()
        with self._lock:
            self._down_until = self._clock() + self._cool_off
            self._unreported = None  # told now
        log.info("assistant: the WebSocket failed (%s); HTTP for the next %.0f s", why, self._cool_off)
        self._warm_fallback()
        if self._on_fallback is not None:
            self._on_fallback(why)

    def http(self, params: dict[str, Any]) -> Any:
        return self._fallback.open(params)

    def _load_fallback(self) -> None:
        try:
            self._fallback.warm()
        except Exception as exc:  # the request that needs it makes the client again and reports what fails
            log.info("assistant: loading the HTTP fallback failed (%s: %s)", type(exc).__name__, exc)

    def _warm_fallback(self) -> None:
        """Load the HTTP path's SDK in the background, once, as soon as the socket has failed: usually the
        handshake on the wake word, so the import overlaps the user's speech instead of delaying the request."""
        with self._lock:
            if self._fallback_warming is not None:
                return
            self._fallback_warming = threading.Thread(
                target=self._load_fallback, name="assistant-http-warm", daemon=True
            )
        self._fallback_warming.start()


class _Opening:
    """One handshake under way, and how it ended (``done``): the socket, or why it failed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.connection: OpenAiSocket | None = None
        self.failure: str | None = None


def warm_event_types() -> Any:
    """The SDK builds its parser for the HTTP stream's event union on the first event it parses, and that took
    ~220 ms here (scripts/bench_latency.py): paid on the first answer after a start, between the model's first
    word and the speech. Parse one event with the rest of the HTTP path's warm-up (the WebSocket's events are read
    without the SDK)."""
    from openai._models import construct_type_unchecked
    from openai.types.responses.response_stream_event import ResponseStreamEvent

    event = {
        "type": "response.output_text.delta",
        "item_id": "msg_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "",
        "logprobs": [],
        "sequence_number": 0,
    }
    return construct_type_unchecked(value=event, type_=cast(Any, ResponseStreamEvent))
