"""How a model request travels: HTTP streaming (server-sent events) or the Responses API's WebSocket mode.

Both give the same stream events, so the turn does not know which one carried them. The WebSocket keeps
one connection open between turns (opened on demand, or ahead of a turn by :meth:`warm`), which saves the
TCP and TLS set-up of every request and tool round. It falls back to HTTP when the socket fails before the
response starts (a refused upgrade, a 401, an ``error`` message, a close or a stall): that attempt is sent
again over HTTP at once, and HTTP is used for a while (``cool_off`` seconds) before the socket is tried
again. An ``error`` message about the request itself (status 400 or 404, e.g. an unknown
previous_response_id) sends that request over HTTP too, whose status the turn's rules know, but keeps the
socket. A failure after the response started is the turn's to handle, as over HTTP (retry or apology); the
connection is dropped then, since a half-read response would still be in it. A warm socket that the server
closed while idle (its limit on a connection's age) is replaced once before the request counts as failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import openai

from ..errors import ApplianceError, ErrorKind
from ..settings import SettingsError
from .stream import close_quietly

log = logging.getLogger(__name__)

Transport = Literal["websocket", "http"]
TRANSPORTS: tuple[Transport, ...] = ("websocket", "http")
#: What ``assistant.transport`` means while the settings have none.
DEFAULT_TRANSPORT: Transport = "websocket"

#: Seconds HTTP is used after the socket failed, before the socket is tried again.
COOL_OFF = 60.0

#: Largest message accepted from the socket (an event is a few hundred bytes; a response's final event
#: repeats the whole output).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: Seconds from a request to its first event (``response.created`` comes within about a second) past the
#: handshake before a silent socket counts as stalled and the request goes over HTTP (capped by
#: ``assistant.read_timeout``).
FIRST_EVENT_SECONDS = 4.0

#: Seconds a warm socket may sit unused before it is closed (the API closes one after 60 minutes anyway;
#: an idle one costs the server a slot and the Pi a thread).
IDLE_CLOSE = 300.0

#: Seconds a close waits for the server's closing handshake.
CLOSE_TIMEOUT = 1.0

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_HTTP_ONLY = ("stream", "timeout")


def make_streams(
    client: openai.OpenAI,
    transport: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    idle_close: float = IDLE_CLOSE,
    on_fallback: Callable[[str], None] | None = None,
) -> HttpStreams | SocketStreams:
    """The transport ``assistant.transport`` names, with the assistant's timeouts."""
    if transport not in TRANSPORTS:
        raise SettingsError(f"assistant.transport: {transport!r} is not one of {', '.join(TRANSPORTS)}")
    http = HttpStreams(client)
    if transport == "http":
        return http
    return SocketStreams(
        client,
        http,
        open_timeout=connect_timeout,
        first_event_timeout=connect_timeout + min(read_timeout, FIRST_EVENT_SECONDS),
        idle_close=idle_close,
        on_fallback=on_fallback,
    )


class HttpStreams:
    """Each request a streamed HTTP POST (``responses.create(stream=True)``)."""

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    def open(self, params: dict[str, Any]) -> Any:
        return self._client.responses.create(**params)

    def warm(self) -> None:
        """Nothing to open ahead: the SDK's HTTP pool keeps its connections."""

    def close(self) -> None:
        """The SDK client owns the HTTP pool."""


class SocketStreams:
    """Requests over one Responses WebSocket, kept open between them, with HTTP as the fallback."""

    def __init__(
        self,
        client: openai.OpenAI,
        fallback: HttpStreams,
        *,
        open_timeout: float,
        first_event_timeout: float,
        cool_off: float = COOL_OFF,
        idle_close: float = IDLE_CLOSE,
        clock: Callable[[], float] = time.monotonic,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
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
        self._connecting = threading.Lock()
        """Held through a handshake, so a request waits for the one :meth:`warm` started instead of
        opening a second socket."""
        self._connection: Any = None
        self._down_until = -1.0
        self.connections_opened = 0
        """Sockets opened so far (a warm one is reused: this stays at 1 over many requests)."""

    @property
    def connected(self) -> bool:
        """A socket is open (it may still have died unnoticed: a request then opens another)."""
        with self._lock:
            return self._connection is not None

    def open(self, params: dict[str, Any]) -> Any:
        if self._clock() < self._down_until:
            return self._fallback.open(params)
        return _FallbackStream(self, params)

    def warm(self) -> None:
        """Open the socket now (on wake), so the first request does not wait for it. Never raises."""
        if self._clock() < self._down_until:
            return
        try:
            self._connect()
        except Exception as exc:  # the request itself will fall back; this was only a head start
            self.failed(f"{type(exc).__name__}: {exc}", notify=False)
            return
        self.idle()

    def close(self) -> None:
        with self._lock:
            self._stop_idle_timer()
            connection, self._connection = self._connection, None
        if connection is not None:
            close_quietly(connection)

    # --- for the stream

    def _connect(self) -> tuple[Any, bool]:
        """The open socket and whether it was opened just now (a reused one may have died while idle)."""
        with self._connecting:
            with self._lock:
                if self._connection is not None:
                    return self._connection, False
            # websockets' own handshake timeout (the SDK passes it through), a bound on one message's size,
            # and ``legacy`` as websockets 17 wants said when a connection is not used as a context manager
            options: Any = {"open_timeout": self._open_timeout, "max_size": MAX_MESSAGE_BYTES, "legacy": True}
            options["close_timeout"] = CLOSE_TIMEOUT
            connection = self._client.responses.connect(websocket_connection_options=options, max_retries=0).enter()
            with self._lock:
                self._connection = connection
                self.connections_opened += 1
            return connection, True

    def send(self, params: dict[str, Any]) -> Any:
        body = {key: value for key, value in params.items() if key not in _HTTP_ONLY}
        with self._lock:
            self._stop_idle_timer()  # in use until the response ends
        connection, fresh = self._connect()
        try:
            connection.response.create(**body)
        except Exception:
            if fresh:
                raise
            # the warm socket was closed while idle (the server's limit on a connection's age, a network
            # change): one new socket before giving up on it
            log.info("assistant: the warm WebSocket was closed; opening a new one")
            self.drop()
            connection, _ = self._connect()
            connection.response.create(**body)
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

    def _close_idle(self, connection: Any) -> None:
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

    def failed(self, why: str, *, cool_off: bool = True, notify: bool = True) -> None:
        """The socket failed this request (it goes over HTTP). ``cool_off``: HTTP for the next requests too
        (False when only the request was refused, the socket is fine). ``notify``: tell ``on_fallback``
        (not for a failed head start: no turn is there to hear it, the log says it)."""
        if not cool_off:  # the error message was the whole reply: the socket is clean and stays
            log.info("assistant: the WebSocket refused the request (%s); sending it over HTTP", why)
            return
        self.drop()
        self._down_until = self._clock() + self._cool_off
        log.info("assistant: the WebSocket failed (%s); HTTP for the next %.0f s", why, self._cool_off)
        if notify and self._on_fallback is not None:
            self._on_fallback(why)

    def http(self, params: dict[str, Any]) -> Any:
        return self._fallback.open(params)


class _FallbackStream:
    """One response's events over the socket; before its first event, any failure switches to HTTP."""

    def __init__(self, owner: SocketStreams, params: dict[str, Any]) -> None:
        self._owner = owner
        self._params = params
        self._lock = threading.Lock()
        self._http: Any = None
        self._started = False
        self._finished = False
        self._closed = False
        self._stall = False

    def _stalled(self) -> None:
        """No first event in time: dropping the socket ends the wait, and the request goes over HTTP."""
        with self._lock:
            if self._started or self._closed:
                return
            self._stall = True
        self._owner.drop()

    def __iter__(self) -> Iterator[Any]:
        watchdog = threading.Timer(self._owner.first_event_timeout, self._stalled)
        watchdog.daemon = True
        watchdog.start()
        try:
            connection = self._owner.send(self._params)
            with self._lock:
                if self._stall:  # the handshake outlasted the watchdog, whose drop came too early to end it
                    raise _SocketRefused("no event in time")
            events = iter(connection)
            first = next(events)
            if getattr(first, "type", "") == "error":
                raise _SocketRefused(_describe_error(first), request_only=_request_error(first))
            with self._lock:
                if self._stall:
                    raise _SocketRefused("no event in time")
                self._started = True
                self._finished = getattr(first, "type", "") in _TERMINAL
        except Exception as exc:  # refused upgrade, 401, error message, close or stall before the response
            if self._gone():
                return
            why = "no event in time" if self._stall else (str(exc) or type(exc).__name__)
            self._owner.failed(why, cool_off=not (isinstance(exc, _SocketRefused) and exc.request_only))
            self._finished = True  # nothing of this response is left in the socket (if it is still open)
            yield from self._over_http()
            return
        finally:
            watchdog.cancel()
        yield first
        if self._finished:
            return
        try:
            for event in events:
                if getattr(event, "type", "") in _TERMINAL:
                    self._finished = True  # before the turn sees it: it may close this stream at once
                    yield event
                    return
                yield event
        except Exception as exc:
            if self._gone():
                raise
            self._owner.failed("the socket closed mid-response")
            # the turn's rules for a lost connection (retry if nothing was said, else apologise), as over HTTP
            raise ApplianceError(
                ErrorKind.CONNECTION,
                f"the WebSocket closed mid-response ({type(exc).__name__})",
                stage="assistant",
                retryable=True,
            ) from exc
        if not self._gone():
            self._owner.failed("the socket closed mid-response")

    def close(self) -> None:
        """The turn stopped reading (done, cancelled, stalled, out of time)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            http = self._http
        if http is not None:
            close_quietly(http)
        if not self._finished:
            self._owner.drop()  # the rest of this response would be read by the next request
        else:
            self._owner.idle()

    def _gone(self) -> bool:
        with self._lock:
            return self._closed

    def _over_http(self) -> Iterator[Any]:
        stream = self._owner.http(self._params)
        with self._lock:
            if self._closed:
                close_quietly(stream)
                return
            self._http = stream
        yield from stream


class _SocketRefused(Exception):
    def __init__(self, why: str, *, request_only: bool = False) -> None:
        super().__init__(why)
        self.request_only = request_only


def _request_error(event: Any) -> bool:
    """An error about the request itself (400, 404: e.g. an unknown previous_response_id), not the socket:
    HTTP gives the same answer with its status, and the socket stays in use."""
    return getattr(event, "status", None) in (400, 404)


def _describe_error(event: Any) -> str:
    error = getattr(event, "error", None)
    status = getattr(event, "status", None)
    code = getattr(error, "code", None) or getattr(event, "code", None)
    return f"error message on the socket (status {status}, code {code})"
