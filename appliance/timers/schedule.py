"""The timer book: pure logic with both clocks passed in.

A countdown runs on the monotonic clock (immune to NTP steps and daylight saving); the wall-clock deadline
is what is persisted, because the monotonic clock restarts at boot. After a restart, a timer whose
wall-clock deadline is still ahead resumes with the time left; one that passed while the appliance was
down is *missed* and rings once at start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: Longest timer the model may set (a day) and most timers at once: a runaway model stays harmless.
MAX_SECONDS = 24 * 3600
MAX_TIMERS = 20


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
    def __init__(self, timers: list[Timer] | None = None, next_id: int = 1) -> None:
        self._timers: dict[int, Timer] = {t.id: t for t in timers or []}
        self._next_id = max([next_id, *(t.id + 1 for t in self._timers.values())])

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
        if not seconds or seconds < 1:
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
        """Timers whose time has come (soonest first), removed from the book."""
        due = [t for t in self.running() if t.due <= now]
        for t in due:
            del self._timers[t.id]
        return due

    def _not_found(self, label: str | None) -> str:
        if not self._timers:
            return "There are no timers running."
        if not _norm(label):
            return "Several timers are running; say which one (or all)."
        return f"There is no {_norm(label)} timer."

    # --- persistence (wall clock only)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "next_id": self._next_id,
            "timers": [
                {"id": t.id, "label": t.label, "seconds": t.seconds, "due_wall": t.due_wall} for t in self.running()
            ],
        }

    @classmethod
    def from_json(cls, data: Any, now: float, now_wall: float) -> tuple[TimerBook, list[Timer]]:
        """The book after a restart, and the timers that ended while the appliance was down.

        Anything malformed is skipped (a damaged state file must never stop the appliance)."""
        timers: list[Timer] = []
        missed: list[Timer] = []
        entries = data.get("timers", []) if isinstance(data, dict) else []
        for entry in entries if isinstance(entries, list) else []:
            try:
                tid, label = int(entry["id"]), _norm(str(entry.get("label", "")))
                seconds, due_wall = float(entry["seconds"]), float(entry["due_wall"])
            except (KeyError, TypeError, ValueError):
                continue
            if not (0 < seconds <= MAX_SECONDS) or due_wall != due_wall:  # NaN check
                continue
            left = due_wall - now_wall
            timer = Timer(tid, label, seconds, now + max(0.0, left), due_wall)
            (timers if left > 0 else missed).append(timer)
        next_id = data.get("next_id", 1) if isinstance(data, dict) else 1
        return cls(timers, next_id if isinstance(next_id, int) else 1), missed
