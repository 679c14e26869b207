"""Announcements to every device of the household, with a per-device acknowledgement.

The announcing device multicasts the text (signed, like claims) and plays it itself; each device that gets it
plays it as a local ``ctl announce`` would (refused while busy, exactly as on one device) and answers with an
ack that says "played" or why not. The announcer repeats the datagram to the devices it knows of that have not
answered yet (a lost packet costs a repeat, not a missing announcement); a device that gets it twice plays it
once and acks again. The result lists every device that answered, and the known ones that did not.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

#: when the announcement is sent again to devices that have not answered (seconds after the first send)
RESENDS = (0.25, 0.6)
WAIT = 1.5
"""How long the announcer waits for acks in all."""


@dataclass(frozen=True)
class Delivery:
    device: str
    status: str  # "played", "busy (speaking)", "no answer"

    @property
    def ok(self) -> bool:
        return self.status == "played"

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "ok": self.ok, "status": self.status}


class Outgoing:
    """One announcement this device sent: which devices answered what."""

    def __init__(self, id: int, expected: set[str]) -> None:
        self.id = id
        self.expected = set(expected)
        self.answers: dict[str, str] = {}

    def ack(self, device: str, status: str) -> None:
        self.answers.setdefault(device, status or "played")

    def waiting_for(self) -> set[str]:
        return self.expected - set(self.answers)

    def complete(self) -> bool:
        return bool(self.expected) and not self.waiting_for()

    def deliveries(self) -> list[Delivery]:
        found = [Delivery(d, s) for d, s in sorted(self.answers.items())]
        return found + [Delivery(d, "no answer") for d in sorted(self.waiting_for())]


class Seen:
    """Announcements already handled (announcer, id) → the status acked, so a repeat is acked, not replayed."""

    def __init__(self, limit: int = 256) -> None:
        self._seen: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.limit = limit

    def get(self, announcer: str, id: int) -> str | None:
        return self._seen.get((announcer, id))

    def put(self, announcer: str, id: int, status: str) -> None:
        self._seen[(announcer, id)] = status
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
