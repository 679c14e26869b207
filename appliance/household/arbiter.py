"""Who answers one wake word: pure, with times given (monotonic seconds on this device's clock).

Each device that wakes opens a round with its own bid; bids of peers are kept for a short memory, each with
the time its wake happened *on this device's clock* (when it arrived minus the offset its sender measured).
A peer's bid belongs to the same wake word when the two wakes are within ``match`` seconds. The best bid wins:
first a bid that interrupts its own conversation (``priority``: that device keeps it), then the louder wake
word (level in dB, to 0.1 dB), then the higher wake score, then the device id (stable, so two devices with
equal bids decide the same way and never both answer, nor both stay silent).

A wake word is decided on each device within ``window`` of hearing it, and only claims that *woke* within
that window count (by when they woke, not when they arrived, so a device whose timer runs late decides as it
would have on time). A device that hears the wake word later than ``margin`` before the end of an earlier
device's window loses at once: its claim could reach that device after it decided (the margin covers the
datagram's way and the two devices' estimates of when things happened), and a device that decided without it
answers. So of the devices that claim, the best one whose claim counted answers, and nobody else;
a device that loses at once sends nothing. A device decides as soon as it can: it loses when a better claim
is known, and wins when its window ends with no better one. Without any peer, or when its claim cannot be
sent, it answers alone: a lost packet may cost a double answer, never a missing one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    ALONE = "alone"  # no peer's bid for this wake word by the end of the window
    BEST = "best"  # peers bid, this device's bid was the best
    BEATEN = "beaten"  # a peer's bid was better
    LATE = "late"  # a peer heard it earlier, and had decided before this device heard it
    NETWORK = "network"  # the claim could not be sent: answer alone at once
    TAKEOVER = "takeover"  # this device lost, but the winner never said it answers (it died): answer instead


@dataclass(frozen=True)
class Bid:
    device: str
    level_db: float
    score: float
    priority: int = 0
    snr_db: float = 0.0

    def rank(self) -> tuple[int, float, float, str]:
        return (self.priority, round(self.level_db, 1), round(self.score, 3), self.device)


@dataclass(frozen=True)
class Decision:
    won: bool
    reason: Reason
    winner: str  # the device that answers
    peers: int  # peers' bids for this wake word seen by the decision
    margin_db: float = 0.0  # own level minus the best other's (positive when won against peers)
    winner_woke: float = 0.0  # when the winner heard the wake word, on this device's clock
    ms: float = 0.0  # this device's wake word to this decision (set by the service)


class Arbiter:
    def __init__(
        self, device: str, window: float = 0.12, match: float = 0.75, memory: float = 3.0, margin: float = 0.03
    ) -> None:
        self.device = device
        self.window, self.match, self.memory, self.margin = window, match, memory, margin
        self._peers: deque[tuple[Bid, float]] = deque(maxlen=64)
        self._own: tuple[Bid, float] | None = None

    @property
    def open(self) -> bool:
        return self._own is not None

    def deadline(self) -> float | None:
        return None if self._own is None else self._own[1] + self.window

    def offer(self, bid: Bid, woke_at: float, now: float) -> Decision | None:
        """A peer's bid arrived; a decision if it settles the open round (this device lost)."""
        if bid.device == self.device:
            return None
        self._forget(now)
        self._peers.append((bid, woke_at))
        return self._judge() if self._own is not None and self._same(woke_at) else None

    def begin(self, own: Bid, woke_at: float, now: float) -> Decision | None:
        """This device heard the wake word at ``woke_at``: a decision at once if it has lost already."""
        self._forget(now)
        self._own = (own, woke_at)
        return self._judge()

    def _judge(self) -> Decision | None:
        assert self._own is not None
        own, mine = self._own
        for bid, at in self._peers:
            if not self._same(at):
                continue
            if at + self.window - self.margin < mine:
                # it decides before this device's claim could reach it (or has decided): it answers, not this one
                return self._decide(False, Reason.LATE, (bid, at))
            if at <= mine + self.window and bid.rank() > own.rank():
                return self._decide(False, Reason.BEATEN, (bid, at))
        return None

    def expire(self, now: float) -> Decision | None:
        """The window is over (or not yet: None): this device won, alone or against the peers it heard."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        return self._decide(True)

    def fail(self) -> Decision | None:
        """The claim could not be sent: answer alone now."""
        return None if self._own is None else self._decide(True, Reason.NETWORK)

    def _same(self, woke_at: float) -> bool:
        return self._own is not None and abs(woke_at - self._own[1]) <= self.match

    def _matching(self) -> list[tuple[Bid, float]]:
        return [(bid, at) for bid, at in self._peers if self._same(at)]

    def _decide(self, won: bool, reason: Reason | None = None, winner: tuple[Bid, float] | None = None) -> Decision:
        assert self._own is not None
        own, mine = self._own
        peers = self._matching()
        self._own = None
        if not won:
            assert winner is not None
            bid, at = winner
            margin = round(own.level_db - bid.level_db, 2)
            return Decision(False, reason or Reason.BEATEN, bid.device, len(peers), margin, at)
        best = max((bid for bid, _ in peers), key=Bid.rank, default=None)
        margin = round(own.level_db - best.level_db, 2) if best is not None else 0.0
        reason = reason or (Reason.BEST if peers else Reason.ALONE)
        return Decision(True, reason, own.device, len(peers), margin, mine)

    def _forget(self, now: float) -> None:
        while self._peers and now - self._peers[0][1] > self.memory:
            self._peers.popleft()
