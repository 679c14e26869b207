"""The items of one realtime transcription session, in the order they were committed.

The appliance commits the audio buffer at every pause, so one turn becomes several conversation items. The
server acknowledges the commits in order (``input_audio_buffer.committed``, each naming the item before it), but
transcribes the items concurrently: their deltas and completions may interleave and finish out of order. The
turn's text is therefore joined by commit order, never by arrival. Pure bookkeeping: no sockets, no clocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class OutOfOrder(Exception):
    """An event the commits so far cannot explain (the session turns it into a protocol failure)."""


def join(texts: Iterable[str]) -> str:
    """Segments joined by single spaces; an item with no words (a pause that held only breath) leaves no gap."""
    return " ".join(t for t in (s.strip() for s in texts) if t)


@dataclass
class Segment:
    item_id: str | None = None
    partial: str = ""
    text: str | None = None
    """None until the item's transcription completed."""

    @property
    def so_far(self) -> str:
        return self.partial if self.text is None else self.text


class SegmentLedger:
    def __init__(self) -> None:
        self._segments: list[Segment] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._segments)

    def add(self) -> int:
        """A commit was sent: its segment index (the server will name its item when it acknowledges)."""
        self._segments.append(Segment())
        return len(self._segments) - 1

    def acknowledge(self, item_id: str, previous_item_id: str | None) -> int:
        """``input_audio_buffer.committed``: the next unacknowledged commit gets this item id."""
        acked = len(self._index)
        if acked >= len(self._segments):
            raise OutOfOrder(f"input_audio_buffer.committed for {item_id} without a commit")
        if item_id in self._index:
            raise OutOfOrder(f"item {item_id} committed twice")
        if acked and previous_item_id is not None and previous_item_id in self._index:
            # an item we know of must be the one committed just before; an id we never saw (an item of the
            # conversation made elsewhere) says nothing about our order
            expected = self._segments[acked - 1].item_id
            if previous_item_id != expected:
                raise OutOfOrder(f"item {item_id} follows {previous_item_id}, expected {expected}")
        self._segments[acked].item_id = item_id
        self._index[item_id] = acked
        return acked

    def delta(self, item_id: str, text: str) -> int:
        index = self._lookup(item_id, "delta")
        segment = self._segments[index]
        if segment.text is not None:
            raise OutOfOrder(f"delta for item {item_id} after its completion")
        segment.partial += text
        return index

    def complete(self, item_id: str, transcript: str) -> int:
        index = self._lookup(item_id, "completion")
        segment = self._segments[index]
        if segment.text is not None:
            raise OutOfOrder(f"item {item_id} completed twice")
        segment.text = transcript
        return index

    @property
    def acknowledged(self) -> int:
        return len(self._index)

    def done(self) -> bool:
        """Every commit acknowledged and transcribed (trivially true with no commit)."""
        return all(s.text is not None for s in self._segments)

    def pending(self) -> list[int]:
        return [i for i, s in enumerate(self._segments) if s.text is None]

    def partial(self) -> str:
        """The turn so far: finished items as transcribed, the others as far as their deltas go."""
        return join(s.so_far for s in self._segments)

    def text(self) -> str:
        return join(s.text or "" for s in self._segments)

    def _lookup(self, item_id: str, what: str) -> int:
        index = self._index.get(item_id)
        if index is None:
            raise OutOfOrder(f"{what} for item {item_id} before its commit")
        return index
