"""One WebSocket address for the OpenAI stand-ins, as the API has one host: ``/v1/realtime`` goes to a
:class:`~appliance.sim.realtime.FakeRealtime`, ``/v1/responses`` to a
:class:`~appliance.sim.responses_ws.ResponsesWsServer`.

The appliance takes a single ``OPENAI_WEBSOCKET_BASE_URL`` for both sockets (transcription and answers), while
each fake listens on a port of its own; this routes each upgrade to the fake that speaks its protocol.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .realtime import FakeRealtime
from .responses_ws import ResponsesWsServer


class OpenAiSockets:
    def __init__(self, realtime: FakeRealtime, responses: ResponsesWsServer) -> None:
        self.realtime = realtime
        self.responses = responses
        self._server: Server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._route,
            ping_interval=None,
            close_timeout=0.2,
            max_size=None,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai-ws", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """For ``OPENAI_WEBSOCKET_BASE_URL`` (the SDK appends ``/realtime`` or ``/responses``)."""
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/v1"

    def _target(self, path: str) -> Any:
        route = urlsplit(path).path.rstrip("/")
        if route == "/v1/realtime":
            return self.realtime
        if route.endswith("/responses"):
            return self.responses
        return None

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        target = self._target(request.path)
        if target is None:
            return connection.respond(404, "no such WebSocket route\n")
        return target._process_request(connection, request)  # type: ignore[no-any-return]

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self._target(ws.request.path)._handle(ws)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(2.0)
