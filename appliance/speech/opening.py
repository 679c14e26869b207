"""The streaming speech's one connection per turn: opened ahead (on the wake word, :meth:`Opener.prepare`) so
the first words do not wait for DNS, TCP, TLS and the handshake, and taken by the turn (:meth:`Opener.take`):
the one opened ahead if it is open and fresh, the one still opening (waited for once, within its open
timeout), else one opened now. A turn never opens a second socket: when the one opened for it failed, the
turn goes over HTTP at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.tts.elevenlabs_ws import StreamInputConnection

log = logging.getLogger(__name__)

_POLL = 0.05  # how often a turn waiting for a connection looks at the cancel token and the deadline
_GRACE = 0.25  # seconds past its open timeout that a connection still opening is waited for


@dataclass
class _Opening:
    """A connection being opened ahead (``prepare``); a turn that starts meanwhile takes it and waits."""

    conn: StreamInputConnection
    started: float
    """time.monotonic() when it began to open."""
    done: threading.Event = field(default_factory=threading.Event)
    error: ApplianceError | None = None
    taken: bool = False
    """A turn waits for it: it is the turn's, not the next one's."""


class Opener:
    """``connect`` makes an unopened connection; ``open_timeout`` bounds its handshake; ``idle_seconds``: how
    long a connection opened ahead is kept for a turn that has not started (the service closes idle ones)."""

    def __init__(
        self,
        connect: Callable[[], StreamInputConnection],
        *,
        open_timeout: float,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.open_timeout = open_timeout
        self._idle = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._ready: tuple[StreamInputConnection, float] | None = None
        self._opening: _Opening | None = None
        self._refused: tuple[ApplianceError, float] | None = None
        """Why the connection opened ahead failed, and when: the turn it was for goes over HTTP at once."""

    def prepare(self) -> None:
        """Open the next turn's connection now, in the background. Never raises; a failure just means no head
        start."""
        threading.Thread(target=self._prepare, name="tts-ws-prepare", daemon=True).start()

    def _prepare(self) -> None:
        with self._lock:
            if self._opening is not None:
                return  # one is under way
            if self._ready is not None and self._clock() - self._ready[1] < self._idle:
                return
            opening = self._opening = _Opening(self._connect(), time.monotonic())
        try:
            opening.conn.open(self.open_timeout)
        except ApplianceError as exc:
            log.info("speech WebSocket not prepared: %s", exc.message)
            opening.error = exc
        stale = None
        with self._lock:
            if self._opening is opening:
                self._opening = None
            if not opening.taken:
                if opening.error is None:
                    stale, self._ready, self._refused = self._ready, (opening.conn, self._clock()), None
                else:
                    self._refused = (opening.error, self._clock())
        opening.done.set()
        if stale is not None:
            stale[0].close()

    def take(self, deadline: Deadline, cancel: CancelToken) -> StreamInputConnection:
        """The turn's one connection. Raises ApplianceError when it cannot be had (then HTTP), or Cancelled."""
        with self._lock:
            ready, self._ready = self._ready, None
            refused, self._refused = self._refused, None
            fresh = ready is not None and self._clock() - ready[1] < self._idle
            opening = None if fresh else self._opening
            if opening is not None:
                self._opening, opening.taken = None, True
        if refused is not None and not fresh and opening is None and self._clock() - refused[1] < self._idle:
            raise refused[0]  # this turn's socket failed to open (on the wake word): not a second one
        if ready is not None:
            if fresh:
                return ready[0]
            ready[0].close()  # the service closes idle sockets: don't trust an old one
        if opening is not None:
            return self._await(opening, deadline, cancel)
        conn = self._connect()
        conn.open(deadline.cap(self.open_timeout))
        return conn

    def _await(self, opening: _Opening, deadline: Deadline, cancel: CancelToken) -> StreamInputConnection:
        bound = deadline.cap(opening.started + self.open_timeout + _GRACE - time.monotonic(), floor=0.0)
        until = time.monotonic() + bound
        while not opening.done.wait(_POLL):
            if cancel.cancelled:
                opening.conn.close()
                raise Cancelled(cancel.reason)
            if time.monotonic() >= until:
                opening.conn.close()  # a handshake past its bound will not be waited for again
                raise ApplianceError(
                    ErrorKind.TIMEOUT,
                    f"speech WebSocket did not open within {self.open_timeout:.1f} s",
                    stage="tts",
                    retryable=True,
                )
        if opening.error is not None:
            raise opening.error
        return opening.conn

    def close(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, None
            opening, self._opening = self._opening, None
        if ready is not None:
            ready[0].close()
        if opening is not None:
            opening.conn.close()
