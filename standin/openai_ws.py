"""One WebSocket address for the OpenAI stand-ins, as the API has one host: ``/v1/realtime`` goes to a
:class:`~standin.realtime.FakeRealtime`, ``/v1/responses`` to a
:class:`~standin.responses_ws.ResponsesWsServer`.

The appliance takes a single ``OPENAI_WEBSOCKET_BASE_URL`` for both sockets (transcription and answers), while
each fake listens on a port of its own; this routes each upgrade to the fake that speaks its protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from standin.realtime import FakeRealtime
from standin.responses_ws import ResponsesWsServer
from standin.ws_server import WsServer


class OpenAiSockets(WsServer):
    """Serves from construction until ``close()``."""

    thread_name = "fake-openai-ws"
    serve_options: ClassVar[dict[str, Any]] = {"ping_interval": None, "close_timeout": 0.2, "max_size": None}

    def __init__(self, realtime: FakeRealtime, responses: ResponsesWsServer) -> None:
        super().__init__()
        self.realtime = realtime
        self.responses = responses
        self.start()

    @property
    def url(self) -> str:
        """For ``OPENAI_WEBSOCKET_BASE_URL`` (the SDK appends ``/realtime`` or ``/responses``)."""
        return self.ws_base_url

    def _target(self, path: str) -> WsServer | None:
        route = urlsplit(path).path.rstrip("/")
        if route == "/v1/realtime":
            return self.realtime
        if route.endswith("/responses"):
            return self.responses
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        target = self._target(request.path)
        if target is None:
            return connection.respond(404, "no such WebSocket route\n")
        return target._process_request(connection, request)

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        target = self._target(ws.request.path)
        assert target is not None  # the upgrade was refused otherwise
        target._handle(ws)

    def close(self) -> None:
        self.stop()
