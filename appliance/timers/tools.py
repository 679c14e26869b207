"""The timer tools the model calls. They reach the running timers through ``ctx.controls.timers()``."""

from __future__ import annotations

from appliance.ports import Timers, ToolContext
from appliance.timers import words
from appliance.timers.schedule import TimerError


def _service(ctx: ToolContext) -> Timers:
    service = ctx.controls.timers()
    if service is None:
        raise TimerError("Timers are not available on this device.")
    return service


def set_timer(ctx: ToolContext, seconds: int, label: str | None = None) -> str:
    """Start a countdown timer that rings on this device when it ends. Use it for "set a timer for ten
    minutes", "remind me in an hour", "pasta timer, 8 minutes". Several timers can run at once.

    Args:
        seconds: How long the timer runs, in seconds (convert minutes and hours to seconds).
        label: A short name for the timer, such as "pasta" or "tea"; null when the user gave none.
    """
    try:
        timer = _service(ctx).set(seconds, label)
    except TimerError as exc:
        return f"Not set: {exc}"
    return f"The {timer.name} is set for {words.duration(timer.seconds)}."


def list_timers(ctx: ToolContext) -> str:
    """Tell which timers are running and how long each has left."""
    try:
        service = _service(ctx)
    except TimerError as exc:
        return str(exc)
    return words.status(service.running(), service.now())


def cancel_timer(ctx: ToolContext, label: str | None = None, all_timers: bool = False) -> str:
    """Cancel a running timer by its name, or every timer.

    Args:
        label: The name of the timer to cancel, such as "pasta"; null for the only running timer.
        all_timers: True to cancel every running timer.
    """
    try:
        gone = _service(ctx).cancel(label, everything=bool(all_timers))
    except TimerError as exc:
        return f"Nothing cancelled: {exc}"
    if not gone:
        return "There were no timers running."
    names = ", ".join(t.name for t in gone)
    return f"Cancelled the {names}." if len(gone) == 1 else f"Cancelled {len(gone)} timers: {names}."


def add_time_to_timer(ctx: ToolContext, seconds: int, label: str | None = None) -> str:
    """Add time to a running timer (or take it away with a negative number).

    Args:
        seconds: Seconds to add; negative to shorten it.
        label: The name of the timer; null for the only running timer.
    """
    try:
        service = _service(ctx)
        timer = service.add_time(label, seconds)
    except TimerError as exc:
        return f"Not changed: {exc}"
    return f"The {timer.name} now has {words.duration(timer.left(service.now()))} left."


TIMER_TOOLS = (set_timer, list_timers, cancel_timer, add_time_to_timer)
