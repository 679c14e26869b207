"""The timer book: pure logic with both clocks passed in.

A countdown runs on the monotonic clock (immune to NTP steps and daylight saving); the wall-clock deadline
is what is persisted, because the monotonic clock restarts at boot. After a restart, a timer whose
wall-clock deadline is still ahead resumes with the time left; one that passed while the appliance was
down is *missed* and rings once at start.
"""

from __future__ import annotations

import logging
import math
import reprlib
from dataclasses import dataclass, replace
from typing import Any

log = logging.getLogger(__name__)

#: Longest timer the model may set (a day) and most timers at once: a runaway model stays harmless.
MAX_SECONDS = 24 * 3600
MAX_TIMERS = 20
#: Bounds on what a state file may say (it is read at every start: absurd numbers are dropped, not obeyed).
MAX_ID = 2**31 - 1
MAX_WALL = 253_402_300_799.0
"""The last second of the year 9999: a later deadline is not a date."""
#: Dropped entries logged one by one; past that, only how many more.
_LOGGED = 10


class TimerError(ValueError):
    """A request the book refuses; the message is written for the model to read out or correct."""


@dataclass(frozen=True)
class Timer:
    id: int
    label: str
    """What the user called it ("pasta"); "" for an unnamed timer."""
    seconds: float
    """The length it was set for, including time added later."""
    due: float
    """Monotonic clock reading at which it rings."""
    due_wall: float
    """Wall-clock (epoch seconds) deadline: what survives a restart."""

    def left(self, now: float) -> float:
        return max(0.0, self.due - now)

    @property
    def name(self) -> str:
        """How it is referred to: "pasta timer", or "timer" for an unnamed one."""
        return f"{self.label} timer" if self.label else "timer"


def _norm(label: str | None) -> str:
    return " ".join((label or "").strip().lower().split())


class TimerBook:
    def __init__(self, timers: list[Timer] | None = None, next_id: int = 1, ended: list[Timer] | None = None) -> None:
        """``ended``: timers that ended but have not rung yet (e.g. missed while the appliance was down)."""
        self._timers: dict[int, Timer] = {t.id: t for t in timers or []}
        self._ended: dict[int, Timer] = {t.id: t for t in ended or []}
        self._next_id = max([next_id, *(t.id + 1 for t in [*self._timers.values(), *self._ended.values()])])

    # --- queries

    def running(self) -> list[Timer]:
        """Timers still counting down, soonest first."""
        return sorted(self._timers.values(), key=lambda t: (t.due, t.id))

    def __len__(self) -> int:
        return len(self._timers)

    def next_due(self) -> float | None:
        return min((t.due for t in self._timers.values()), default=None)

    def find(self, label: str | None) -> list[Timer]:
        """The timers a label refers to. No label: the only timer, if there is exactly one."""
        wanted = _norm(label)
        if not wanted:
            return self.running() if len(self._timers) == 1 else []
        exact = [t for t in self.running() if t.label == wanted]
        if exact:
            return exact
        # "the pasta one" / "pasta timer": accept the label inside what was said
        return [t for t in self.running() if t.label and (t.label in wanted or wanted in t.label)]

    # --- changes

    def set(self, seconds: float, label: str | None, now: float, now_wall: float) -> Timer:
        if math.isnan(seconds) or not seconds or seconds < 1:  # NaN passes every comparison
            raise TimerError("A timer needs at least one second.")
        if seconds > MAX_SECONDS:
            raise TimerError("Timers can be set for at most 24 hours.")
        if len(self._timers) >= MAX_TIMERS:
            raise TimerError(f"There are already {MAX_TIMERS} timers running; cancel one first.")
        name = self._unique(_norm(label))
        timer = Timer(self._next_id, name, float(seconds), now + seconds, now_wall + seconds)
        self._next_id += 1
        self._timers[timer.id] = timer
        return timer

    def _unique(self, label: str) -> str:
        """A second "pasta" timer becomes "pasta 2", so every timer can be named unambiguously."""
        if not label or all(t.label != label for t in self._timers.values()):
            return label
        n = 2
        while any(t.label == f"{label} {n}" for t in self._timers.values()):
            n += 1
        return f"{label} {n}"

    def cancel(self, label: str | None, everything: bool = False) -> list[Timer]:
        """Remove the timers ``label`` refers to (or all of them); returns what was cancelled."""
        if everything:
            gone, self._timers = self.running(), {}
            return gone
        found = self.find(label)
        if not found:
            raise TimerError(self._not_found(label))
        for t in found:
            del self._timers[t.id]
        return found

    def add_time(self, label: str | None, seconds: float) -> Timer:
        found = self.find(label)
        if not found:
            raise TimerError(self._not_found(label))
        if len(found) > 1:
            raise TimerError("Several timers match; say which one.")
        timer = found[0]
        if math.isnan(seconds):
            raise TimerError("Say how much time to add.")
        if timer.seconds + seconds > MAX_SECONDS or seconds == 0:
            raise TimerError(
                "That would make the timer longer than 24 hours." if seconds else "Say how much time to add."
            )
        changed = replace(
            timer, seconds=timer.seconds + seconds, due=timer.due + seconds, due_wall=timer.due_wall + seconds
        )
        if changed.seconds < 1:
            raise TimerError("That would leave no time on the timer; cancel it instead.")
        self._timers[timer.id] = changed
        return changed

    def pop_due(self, now: float) -> list[Timer]:
        """Timers whose time has come (soonest first): no longer running, but kept as ended (and so in the
        state file) until :meth:`rang`: one that ends during a turn rings only once the turn is over, and a
        stop in between must not lose it."""
        due = [t for t in self.running() if t.due <= now]
        for t in due:
            del self._timers[t.id]
            self._ended[t.id] = t
        return due

    def rang(self, timer_id: int) -> Timer | None:
        """The ended timer's alert started: it leaves the book. None when there is no such ended timer."""
        return self._ended.pop(timer_id, None)

    def _not_found(self, label: str | None) -> str:
        if not self._timers:
            return "There are no timers running."
        if not _norm(label):
            return "Several timers are running; say which one (or all)."
        return f"There is no {_norm(label)} timer."

    # --- persistence (wall clock only)

    def to_json(self) -> dict[str, Any]:
        """The running timers, then the ended ones not rung yet (marked ``ended``: missed at the next start)."""
        return {
            "version": 1,
            "next_id": self._next_id,
            "timers": [
                {"id": t.id, "label": t.label, "seconds": t.seconds, "due_wall": t.due_wall} for t in self.running()
            ]
            + [
                {"id": t.id, "label": t.label, "seconds": t.seconds, "due_wall": t.due_wall, "ended": True}
                for t in self._ended.values()
            ],
        }

    @classmethod
    def from_json(cls, data: Any, now: float, now_wall: float) -> tuple[TimerBook, list[Timer]]:
        """The book after a restart, and the timers that ended while the appliance was down (or had ended
        and not rung yet when it stopped).

        The file is read at every start, so nothing in it may stop the appliance or the countdown: an entry
        that is malformed or absurd (an id that is no small positive integer, a length or deadline that is no
        finite number in range, a second entry with the same id) is dropped and logged, without a traceback.
        A deadline further away than the timer's own length (a Pi whose clock is behind) is brought in to
        that length. At most :data:`MAX_TIMERS` running and as many missed timers are kept."""
        timers: list[Timer] = []
        missed: list[Timer] = []
        dropped = 0
        entries = data.get("timers", []) if isinstance(data, dict) else []
        for entry in entries if isinstance(entries, list) else []:
            restored = _restore(entry, now, now_wall, {t.id for t in [*timers, *missed]})
            if isinstance(restored, str):
                dropped += 1
                if dropped <= _LOGGED:
                    log.warning("timers: dropped a saved timer (%s): %s", restored, reprlib.repr(entry))
                continue
            timer, ended = restored
            (missed if ended else timers).append(timer)
        timers.sort(key=lambda t: (t.due, t.id))
        missed.sort(key=lambda t: (t.due_wall, t.id))
        extra = len(timers[MAX_TIMERS:]) + len(missed[:-MAX_TIMERS])
        if extra:  # the soonest running ones are kept, and the latest missed ones
            timers, missed = timers[:MAX_TIMERS], missed[-MAX_TIMERS:]
            log.warning("timers: dropped %d saved timers over the limit of %d", extra, MAX_TIMERS)
        if dropped > _LOGGED:
            log.warning("timers: dropped %d more saved timers", dropped - _LOGGED)
        next_id = data.get("next_id", 1) if isinstance(data, dict) else 1
        valid = isinstance(next_id, int) and not isinstance(next_id, bool) and 1 <= next_id <= MAX_ID
        return cls(timers, next_id if valid else 1, ended=missed), missed


def _number(value: Any) -> float | None:
    """A finite JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def _restore(entry: Any, now: float, now_wall: float, taken: set[int]) -> tuple[Timer, bool] | str:
    """One saved timer and whether it is missed, or why it is dropped."""
    if not isinstance(entry, dict):
        return "not an object"
    tid = entry.get("id")
    if isinstance(tid, bool) or not isinstance(tid, int) or not 1 <= tid <= MAX_ID:
        return "bad id"
    if tid in taken:
        return "a second timer with the same id"
    label = entry.get("label", "")
    if not isinstance(label, str):
        return "bad label"
    seconds = _number(entry.get("seconds"))
    if seconds is None or not 0 < seconds <= MAX_SECONDS:
        return "bad length"
    due_wall = _number(entry.get("due_wall"))
    if due_wall is None or not 0 < due_wall <= MAX_WALL:
        return "bad deadline"
    if entry.get("ended") is True or due_wall <= now_wall:
        return Timer(tid, _norm(label), seconds, now, due_wall), True
    if due_wall - now_wall > seconds:  # the clock is behind: never more than its own length from now
        due_wall = now_wall + seconds
    return Timer(tid, _norm(label), seconds, now + (due_wall - now_wall), due_wall), False
