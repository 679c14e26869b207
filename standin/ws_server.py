"""What every WebSocket stand-in of the fake cloud shares: a ``websockets`` sync server on a free port of
127.0.0.1, served from a daemon thread, started and stopped (or used as a context manager), and the addresses
a client is pointed at.

A fake subclasses :class:`WsServer` and keeps only its protocol: ``_handle`` serves one connection and
``_process_request`` may answer the upgrade itself (a refusal, a wrong route). Both keep those names because
:class:`~standin.openai_ws.OpenAiSockets` routes upgrades from its one address to the fakes' hooks.
``serve_options`` holds a fake's ``websockets.sync.server.serve`` options (keep-alive pings off, so a test
never waits on one; no frame size limit for audio), since each fake copies what its service does.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Self

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from appliance.websocket_log import QUIET_SERVER_LOGGER

#: How long ``stop`` waits for the serving thread: it ends as soon as the server has shut down, so this only
#: bounds a hang.
STOP_SECONDS = 5.0


class WsServer:
    thread_name: ClassVar[str] = "fake-ws"
    serve_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        # websockets' closing race (a close while its reader took data) logs no traceback; a fake may set its own
        options: dict[str, Any] = {"logger": QUIET_SERVER_LOGGER, **self.serve_options}
        self._server = serve(self._handle, self._host, 0, process_request=self._process_request, **options)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and the open connections, and wait for their handlers. Idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.socket.getsockname()[1])

    @property
    def origin(self) -> str:
        """``ws://host:port``, for a client that adds the whole path itself (ElevenLabs' ``ws_base_url``)."""
        assert self._server is not None, "not started"
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def ws_base_url(self) -> str:
        """For the OpenAI SDK's ``websocket_base_url`` (it appends ``/realtime`` or ``/responses``)."""
        return f"{self.origin}/v1"

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The upgrade's answer: None accepts it, a response refuses it."""
        return None

    def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError
