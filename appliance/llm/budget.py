"""The model's share of the turn's deadline.

The turn's :class:`~appliance.deadline.Deadline` runs from the end of the question. The assistant draws on
it for everything it waits for (the request, the first text, every gap between deltas, slowly streamed
call arguments, tools, retries' backoff), but not for the time the consumer holds an answer piece: that is
the speaker saying it, and a long, good answer must not be cut because it takes a while to speak.
Pure apart from the clock, which the deadline carries.
"""

from __future__ import annotations

from collections.abc import Callable

from appliance.deadline import Deadline


class Budget:
    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._held = 0.0
        self._since: float | None = None

    @property
    def seconds(self) -> float:
        return self._deadline.seconds

    @property
    def clock(self) -> Callable[[], float]:
        return self._deadline.clock

    def hold(self) -> None:
        """The consumer has an answer piece (the clock stops for the assistant until :meth:`release`)."""
        if self._since is None:
            self._since = self._deadline.clock()

    def release(self) -> None:
        if self._since is not None:
            self._held += max(0.0, self._deadline.clock() - self._since)
            self._since = None

    def left(self) -> float:
        """Seconds left (never negative)."""
        now = self._deadline.clock()
        held = self._held + (now - self._since if self._since is not None else 0.0)
        return max(0.0, self._deadline.at + held - now)

    def expired(self) -> bool:
        return self.left() <= 0.0

    def cap(self, timeout: float, floor: float = 0.05) -> float:
        """``timeout`` shortened to what is left (at least ``floor``, so a wait never gets 0)."""
        return max(floor, min(timeout, self.left()))
