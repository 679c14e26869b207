"""Reading one streamed request in a worker thread, handing its events to the turn over a bounded queue.

The turn waits on the queue, so a cancel wakes it at once; the worker may stay blocked in the network until
its read timeout, but nobody waits for it. The stream is closed on cancel (from ``cancel.on_cancel``) and
when the turn stops reading. The queue is bounded: when the turn is slow to take events (the speaker is
saying a long answer) the worker stops reading and the server's stream waits in the socket, so a runaway
answer cannot grow memory. How the stream is opened (HTTP server-sent events, a WebSocket) is the opener's
business: anything iterable with a ``close()``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from appliance.cancel import CancelToken
from appliance.llm.budget import Budget

log = logging.getLogger(__name__)

#: Events the worker may read ahead of the turn. A text delta is a few characters, so this is a few
#: sentences: enough to hide the network's jitter, small enough to bound memory.
QUEUE_CAPACITY = 64


class CancelledRead(Exception):
    """The turn was cancelled while waiting for the stream."""


class Stalled(Exception):
    """Nothing came from the worker thread for far longer than the read timeout allows."""


class OutOfTime(Exception):
    """The turn's deadline ran out while waiting for the stream."""


class _Tick:
    def __repr__(self) -> str:
        return "TICK"


TICK = _Tick()
"""What :meth:`StreamReader.events` yields when the caller's ``wake`` moment came before the next event."""


class BoundedQueue:
    """A queue that blocks its producer when full and wakes its consumer on close or cancel.

    Unlike ``queue.Queue`` a cancel from another thread never blocks (it sets a flag), which is what a
    ``CancelToken`` callback needs."""

    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.capacity = capacity
        self.high_water = 0
        """The longest the queue ever was (for tests and benchmarks: memory stays bounded)."""
        self._items: deque[tuple[str, Any]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._cancelled = False

    def put(self, kind: str, value: Any) -> bool:
        """Add an item, waiting while the queue is full. False when the queue was closed meanwhile."""
        with self._cond:
            while len(self._items) >= self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append((kind, value))
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> tuple[str, Any] | None:
        """The next item; ("cancelled", None) after :meth:`cancel`; None when ``timeout`` passed first."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._cancelled, timeout)
            if self._cancelled:
                return "cancelled", None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def close(self) -> None:
        """Nobody will read any more: the producer's waiting put returns False, and later ones too."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed


class StreamReader:
    """Runs ``open_stream()`` and iterates it in a worker thread; the turn reads with :meth:`events`."""

    def __init__(
        self, open_stream: Callable[[], Iterable[Any]], cancel: CancelToken, *, capacity: int = QUEUE_CAPACITY
    ) -> None:
        self._open = open_stream
        self.queue = BoundedQueue(capacity)
        self._lock = threading.Lock()
        self._closed = False
        self._stream: Any = None
        self._cancel = cancel
        self._thread = threading.Thread(target=self._run, name="responses-stream", daemon=True)
        self._thread.start()
        self._unregister = cancel.on_cancel(self._cancelled)

    def events(self, budget: Budget, guard: float, wake: Callable[[], float | None] | None = None) -> Iterator[Any]:
        """The stream's events. Raises CancelledRead, OutOfTime (the budget ran out), Stalled (nothing for
        ``guard`` seconds), or what the stream raised. ``wake``: seconds until the caller wants to act while
        the stream is quiet (None: no such moment); :data:`TICK` is yielded then. Ticks are not data: the guard
        runs on from the last event."""
        clock = budget.clock
        last = clock()
        while True:
            if self._cancel.cancelled:
                raise CancelledRead()  # events queued before the cancel are not spoken
            left = budget.left()
            if left <= 0:
                raise OutOfTime()
            wait = min(guard - (clock() - last), left)
            due = wake() if wake is not None else None
            ticking = due is not None and due < wait
            if due is not None and ticking:
                wait = due  # an event already queued goes first, even when the moment has come
            item = self.queue.get(timeout=max(0.0, wait))
            if item is None:
                if budget.expired():
                    raise OutOfTime()
                if ticking:
                    yield TICK
                    continue
                raise Stalled(f"no data for {guard:.0f} s")
            kind, value = item
            if kind == "event":
                yield value
                last = clock()  # the guard counts the stream's quiet, not the time the caller held an event
            elif kind == "end":
                return
            elif kind == "error":
                raise value
            else:
                raise CancelledRead()

    def close(self) -> None:
        self._unregister()
        self._shut()

    def _cancelled(self) -> None:
        self.queue.cancel()
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stream = self._stream
        self.queue.close()
        if stream is not None:
            close_quietly(stream)

    def _run(self) -> None:
        try:
            stream = self._open()
        except Exception as exc:  # handed to the turn, which classifies it
            self.queue.put("error", exc)
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._stream = stream
        if closed:
            close_quietly(stream)
            return
        try:
            for event in stream:
                if not self.queue.put("event", event):
                    return
            self.queue.put("end", None)
        except Exception as exc:  # handed to the turn (after a cancel nobody reads it)
            if not self.queue.closed:
                self.queue.put("error", exc)
        finally:
            close_quietly(stream)


def close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # closing a half-read socket may complain; the request is over either way
        log.debug("closing the stream failed", exc_info=True)
