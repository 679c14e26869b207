"""One deadline per turn: every stage (transcription, the model's stream, tools, speech) draws on it.

Pure logic with the clock passed in. A stage asks ``cap(timeout)`` for the timeout of its next wait, so a
stage's own timeout never outlives the turn, and ``expired()`` before it starts anything new.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Deadline:
    seconds: float
    """How long the turn may take from ``start``."""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    start: float = -1.0
    """When the turn's clock started (the end of the question); defaults to now."""

    def __post_init__(self) -> None:
        if self.start < 0:
            self.start = self.clock()

    @property
    def at(self) -> float:
        """The clock reading at which the turn is out of time."""
        return self.start + self.seconds

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.at

    def cap(self, timeout: float, floor: float = 0.05) -> float:
        """``timeout`` shortened to what is left of the turn (at least ``floor``, so a wait never gets 0)."""
        return max(floor, min(timeout, self.left()))

    @classmethod
    def unlimited(cls) -> Deadline:
        """For callers with no turn (tests of one stage, announcements without a budget)."""
        return cls(float("inf"))
