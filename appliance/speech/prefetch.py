"""The assistant's pieces read on a thread of their own from the start, so the model is asked at once whatever
the speech engine does (a socket still opening, a fallback), and given out in order to the path that speaks
them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.cancel import CancelToken
from appliance.errors import Cancelled
from appliance.text.piece import Piece

_POLL = 0.05  # how often a waiting reader looks at the cancel token


class Prefetched:
    """Re-raises what the assistant raised; raises Cancelled when the turn is cancelled while it waits."""

    def __init__(self, source: Iterator[Piece], cancel: CancelToken) -> None:
        self._queue: queue.Queue[Piece | _Raised | None] = queue.Queue()
        self._cancel = cancel
        self._ended = False
        threading.Thread(target=self._read, args=(source,), name="tts-answer", daemon=True).start()

    def _read(self, source: Iterator[Piece]) -> None:
        try:
            for piece in source:
                self._queue.put(piece)
                if self._cancel.cancelled:
                    return
        except Exception as exc:  # the reader of the pieces raises it as its own
            self._queue.put(_Raised(exc))
        finally:
            self._queue.put(None)

    def __iter__(self) -> Iterator[Piece]:
        return self

    def __next__(self) -> Piece:
        while not self._ended:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._cancel.cancelled:
                    raise Cancelled(self._cancel.reason) from None
                continue
            if item is None:
                self._ended = True
            elif isinstance(item, _Raised):
                raise item.error
            else:
                return item
        raise StopIteration


@dataclass
class _Raised:
    error: Exception
