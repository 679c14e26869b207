"""The Responses API's WebSocket mode for the fake cloud, answering from a ResponsesServer's scripts.

A client sends ``response.create`` messages (the same body as the HTTP request, without ``stream``) and
gets the same events back as JSON messages. The replies come from the :class:`ResponsesServer` queue, with
its conversation rules (an unknown ``previous_response_id`` or an unanswered call is an ``error``
message with status 400), so one script serves either transport. A fake-cloud ``Status`` reply becomes an
``error`` message; ``Reset`` closes the socket; ``Stall`` sends nothing. Faults of the socket itself:
``refuse(status)`` refuses the next upgrades (e.g. 403 or 401), ``close_after(n)`` closes the connection
after n messages of the next response, ``setup_delay`` slows every handshake, ``close_idle()`` closes the
open connections between requests (as the API does when a connection reaches its age limit). ``inject(raw, n)``
sends a raw message (garbage: not JSON, wrong types) before the n-th message of the next response.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from typing import Any

from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.sync.server import ServerConnection

from standin.cloud import Json, Reset, Stall
from standin.responses import ResponsesServer, Script
from standin.ws_server import WsServer


class ResponsesWsServer(WsServer):
    """Serves from construction until ``close()``."""

    thread_name = "fake-responses-ws"

    def __init__(self, responses: ResponsesServer, *, setup_delay: float = 0.0) -> None:
        super().__init__()
        self.responses = responses
        self.setup_delay = setup_delay
        self.received: list[dict[str, Any]] = []
        """Every ``response.create`` body, in order."""
        self.upgrades = 0
        """Handshakes accepted (a warm connection serves many requests on one)."""
        self.handshakes = 0
        """Upgrade requests received, accepted or not (a slow one counts when it arrives)."""
        self._refusals: deque[int] = deque()
        self._close_after: deque[int] = deque()
        self._injections: deque[tuple[str | bytes, int]] = deque()
        self._lock = threading.Lock()
        self._open: set[ServerConnection] = set()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self.start()
        self.url = self.ws_base_url

    def refuse(self, status: int = 403, times: int = 1) -> ResponsesWsServer:
        with self._lock:
            self._refusals.extend([status] * times)
        return self

    def close_after(self, messages: int) -> ResponsesWsServer:
        """Close the socket (no close frame) after ``messages`` messages of the next scripted response."""
        with self._lock:
            self._close_after.append(messages)
        return self

    def inject(self, raw: str | bytes, before: int = 0) -> ResponsesWsServer:
        """Send ``raw`` as it is (a text message, or a binary one for bytes) before the ``before``-th message of
        the next scripted response; the script's own messages all follow."""
        with self._lock:
            self._injections.append((raw, before))
        return self

    def close_idle(self, reason: str = "connection age limit reached") -> int:
        """Close every open connection with a close frame; returns how many there were. When it returns, the
        clients have answered the close (so they know their socket is gone)."""
        with self._lock:
            connections = list(self._open)
        for ws in connections:
            ws.close(1001, reason)
        return len(connections)

    def wait_all_closed(self, timeout: float) -> bool:
        """Wait until no client holds a connection (e.g. one closed for being idle)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._open, timeout)

    def stop(self) -> None:
        self._stop.set()  # first: a stalled reply lets go of its handler, which shutdown waits for
        super().stop()

    def close(self) -> None:
        self.stop()

    def _process_request(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        with self._lock:
            self.handshakes += 1
        if self.setup_delay:
            self._stop.wait(self.setup_delay)
        with self._lock:
            status = self._refusals.popleft() if self._refusals else None
            if status is None and request.path.rstrip("/").endswith("/responses"):
                self.upgrades += 1
                return None
        return connection.respond(status or 404, "upgrade refused by the fake cloud\n")

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self._open.add(ws)
        try:
            for message in ws:
                body = json.loads(message)
                if body.get("type") != "response.create":
                    self._send(ws, _error(400, "invalid_request_error", None, f"unknown message {body.get('type')}"))
                    continue
                request = {key: value for key, value in body.items() if key != "type"}
                with self._lock:
                    self.received.append(request)
                    number = len(self.received)
                    cut = self._close_after.popleft() if self._close_after else None
                    injection = self._injections.popleft() if self._injections else None
                if not self._reply(ws, self.responses.answer(request, number), cut, injection):
                    return
        except Exception:  # a client that went away mid-message: this connection is over, the server is not
            return
        finally:
            with self._lock:
                self._open.discard(ws)
                self._changed.notify_all()

    def _reply(
        self, ws: ServerConnection, reply: Any, cut: int | None, injection: tuple[str | bytes, int] | None
    ) -> bool:
        """Send one reply; False when the connection was closed by it."""
        if isinstance(reply, Script):
            if reply.ttfb and self._stop.wait(reply.ttfb):  # the model's time to its first event
                return False
            for index, event in enumerate(reply.events):
                if (
                    cut is not None
                    and index >= cut
                    or reply.disconnect_after is not None
                    and index >= reply.disconnect_after
                ):
                    _drop(ws)
                    return False
                if reply.stall_after is not None and index >= reply.stall_after:
                    self._stop.wait(reply.stall_seconds)
                    _drop(ws)
                    return False
                if index and reply.delay and self._stop.wait(reply.delay):
                    return False
                if reply.pauses.get(index, 0.0) > 0 and self._stop.wait(reply.pauses[index]):
                    return False
                if injection is not None and index == injection[1]:
                    ws.send(injection[0])
                self._send(ws, event)
            return True
        if isinstance(reply, Json):
            error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
            self._send(
                ws, _error(reply.status, error.get("type", "error"), error.get("code"), error.get("message", ""))
            )
            return True
        if isinstance(reply, Reset):
            _drop(ws)
            return False
        if isinstance(reply, Stall):
            self._stop.wait(reply.seconds)
            _drop(ws)
            return False
        raise TypeError(f"the WebSocket fake cannot send {type(reply).__name__}")

    @staticmethod
    def _send(ws: ServerConnection, event: dict[str, Any]) -> None:
        ws.send(json.dumps(event))


def _error(status: int, error_type: str, code: str | None, message: str) -> dict[str, Any]:
    return {"type": "error", "status": status, "error": {"type": error_type, "code": code, "message": message}}


def _drop(ws: ServerConnection) -> None:
    """Close without a close frame, as a dropped network does."""
    try:
        ws.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    ws.socket.close()
