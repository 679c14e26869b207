"""The ``websockets`` library's loggers, without the traceback its own closing race logs as an error.

When one thread closes a connection (ours: a cancel, a turn that ends, a stall) while the library's reading
thread has just taken bytes off the socket, the close feeds the protocol its end of stream first, and the
reader's ``receive_data`` then raises ``EOFError("stream ended")``. websockets 17 catches that in its safety
net and logs "unexpected internal error" with the traceback at ERROR (``sync/connection.py``,
``recv_events``), although the connection is closed as asked and nothing is lost. Seen here on about one in
ten aborts of a streaming socket. Pass :data:`QUIET_CLOSE_LOGGER` (or :data:`QUIET_SERVER_LOGGER`) as a
connection's ``logger``: that one record becomes a debug line without the traceback; everything else,
another error included, is logged as before, by the library's own loggers (same names, same levels).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any


class QuietCloseLogger(logging.LoggerAdapter[logging.Logger]):
    """A websockets logger whose error records caused by an ``EOFError`` (its closing race) are debug lines."""

    def log(
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: Any = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **kwargs: Any,
    ) -> None:
        if level >= logging.ERROR and exc_info is True and isinstance(sys.exc_info()[1], EOFError):
            level, exc_info = logging.DEBUG, None
            msg = f"{msg} (EOFError: the connection was closed while its reader took data; ignored)"
        super().log(
            level,
            msg,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=stacklevel,
            extra=extra,
            **kwargs,
        )


#: For a client connection's ``logger`` (``websocket_connection_options`` of the OpenAI SDK, ``connect``).
QUIET_CLOSE_LOGGER = QuietCloseLogger(logging.getLogger("websockets.client"))
#: For a server's ``logger`` (the stand-in cloud's WebSockets).
QUIET_SERVER_LOGGER = QuietCloseLogger(logging.getLogger("websockets.server"))
