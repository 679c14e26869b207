"""Durations and timers in words the model can read out and the speaker can say."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.ports import RunningTimer
from appliance.timers.schedule import Timer


def duration(seconds: float) -> str:
    """3725 -> "1 hour, 2 minutes and 5 seconds"; rounds to whole seconds."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if n
    ]
    if not parts:
        return "0 seconds"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def status(timers: Sequence[RunningTimer], now: float) -> str:
    """What :func:`list_timers` tells the model."""
    if not timers:
        return "No timers are running."
    lines = [f"The {t.name} has {duration(t.left(now))} left (set for {duration(t.seconds)})." for t in timers]
    head = "One timer is running." if len(timers) == 1 else f"{len(timers)} timers are running."
    return " ".join([head, *lines])


def ended(timer: Timer, missed: bool = False) -> str:
    """What the appliance says when a timer rings."""
    name = f"Your {timer.label} timer" if timer.label else "Your timer"
    if missed:
        return f"{name} ended while I was switched off."
    return f"{name} is done."
