"""One response's events over the Responses WebSocket: before its first event, any failure switches to HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from appliance.errors import ApplianceError, ErrorKind
from appliance.llm.stream import close_quietly
from appliance.llm.wellformed import malformed

#: What the SDK's ``json.loads`` of a message raises when it is not JSON (or not UTF-8).
_UNREADABLE = (json.JSONDecodeError, UnicodeDecodeError)
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


class Owner(Protocol):
    """What a stream uses of the socket that carries it (:class:`~appliance.llm.transport.SocketStreams`)."""

    @property
    def first_event_timeout(self) -> float: ...

    def send(self, params: dict[str, Any]) -> Any: ...

    def http(self, params: dict[str, Any]) -> Any: ...

    def drop(self) -> None: ...

    def idle(self) -> None: ...

    def failed(self, why: str, *, cool_off: bool = True) -> None: ...


class FallbackStream:
    """One response's events over the socket; before its first event, any failure switches to HTTP."""

    def __init__(self, owner: Owner, params: dict[str, Any]) -> None:
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
        watchdog: threading.Timer | None = None
        try:
            connection = self._owner.send(self._params)  # the handshake, if any, is bounded on its own
            if self._gone():  # stopped while the socket opened: the response it asked for is not read
                self._owner.drop()
                return
            # the first event's own bound, from now: a silent socket costs this, not the handshake's time too
            watchdog = threading.Timer(self._owner.first_event_timeout, self._stalled)
            watchdog.daemon = True
            watchdog.start()
            events = iter(connection)
            first = next(events)
            problem = malformed(first)
            if problem is not None:
                raise SocketRefused(f"a malformed event ({problem})")
            if first.type == "error":
                raise SocketRefused(_describe_error(first), request_only=_request_error(first))
            with self._lock:
                if self._stall:
                    raise SocketRefused("no event in time")
                self._started = True
                self._finished = first.type in _TERMINAL
        except Exception as exc:  # refused upgrade, 401, error message, close, stall, garbage before the response
            if self._gone():
                return
            why = "no event in time" if self._stall else (str(exc) or type(exc).__name__)
            if isinstance(exc, _UNREADABLE):
                why = f"a malformed event ({type(exc).__name__})"
            self._owner.failed(why, cool_off=not (isinstance(exc, SocketRefused) and exc.request_only))
            self._finished = True  # nothing of this response is left in the socket (if it is still open)
            yield from self._over_http()
            return
        finally:
            if watchdog is not None:
                watchdog.cancel()
        yield first
        if self._finished:
            return
        try:
            for event in events:
                problem = malformed(event)
                if problem is not None:
                    raise _Malformed(problem)
                if event.type in _TERMINAL:
                    self._finished = True  # before the turn sees it: it may close this stream at once
                    yield event
                    return
                yield event
        except Exception as exc:
            if self._gone():
                raise
            if isinstance(exc, (_Malformed, *_UNREADABLE)):  # garbage: a fault of the transport, like a close
                detail = str(exc) if isinstance(exc, _Malformed) else type(exc).__name__
                why, message = "a malformed event", f"the WebSocket sent a malformed event ({detail})"
            else:
                why, message = (
                    "the socket closed mid-response",
                    f"the WebSocket closed mid-response ({type(exc).__name__})",
                )
            self._owner.failed(why)
            # the turn's rules for a lost connection (retry if nothing was said, else apologise), as over HTTP
            raise ApplianceError(ErrorKind.CONNECTION, message, stage="assistant", retryable=True) from exc
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


class _Malformed(Exception):
    """An event the turn could not read (:func:`~appliance.llm.wellformed.malformed` says what is wrong)."""


class SocketRefused(Exception):
    """The socket failed before the response started: the request goes over HTTP (``request_only``: the
    request was refused, the socket is fine)."""

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
