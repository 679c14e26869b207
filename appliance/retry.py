"""One retry policy for every cloud call: bounded attempts, backoff with jitter, Retry-After, a deadline.

Pure logic: the caller passes the current time, so tests need no clock. Call sites ask
``policy.next_delay(attempt, now, retry_after)`` and sleep on their cancel token for that long, or give up
when it returns None.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    max_retries: int = 2
    """Retries after the first attempt."""
    base: float = 0.5
    """First backoff in seconds; doubles each retry."""
    cap: float = 4.0
    """Longest backoff we choose ourselves (a server's Retry-After may ask for more, up to the deadline)."""
    deadline: float = 20.0
    """Seconds from ``start`` after which no retry is started."""
    jitter: float = 0.25
    """Fraction of the backoff randomised, so many appliances do not retry in step."""
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based), without Retry-After."""
        delay = min(self.cap, self.base * (2 ** (attempt - 1)))
        return float(delay * (1 - self.jitter + 2 * self.jitter * self.rng.random()))

    def next_delay(
        self, attempt: int, start: float, now: float, retry_after: float | None = None, min_time_left: float = 0.5
    ) -> float | None:
        """Seconds to wait before retry ``attempt`` (1-based), or None when no retry should be made.

        None when the retries are used up, or when waiting would leave less than ``min_time_left`` seconds
        before the deadline (a retry that cannot finish is pointless)."""
        if attempt > self.max_retries:
            return None
        delay = self.backoff(attempt)
        if retry_after is not None and retry_after >= 0:
            delay = max(delay, retry_after)
        if now + delay + min_time_left > start + self.deadline:
            return None
        return delay


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are treated as absent)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
