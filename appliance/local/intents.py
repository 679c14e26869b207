"""The device's own commands: what a matched sentence carries (the names, :class:`Intent`, are the
configuration's: appliance/config/local.py)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config.local import Intent as Intent


@dataclass(frozen=True)
class Command:
    intent: Intent
    seconds: int | None = None
    """A timer's length (timer_start)."""
    name: str | None = None
    """A timer's name, from the template's list ("pasta")."""
    percent: int | None = None
    """The volume asked for (volume_set)."""
