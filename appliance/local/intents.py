"""The device's own commands: their names and what a matched sentence carries (no parser imported here, so
the settings can check names without loading one)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    TIMER_START = "timer_start"
    TIMER_STATUS = "timer_status"
    TIMER_CANCEL = "timer_cancel"
    TIMER_CANCEL_ALL = "timer_cancel_all"
    VOLUME_SET = "volume_set"
    VOLUME_UP = "volume_up"
    VOLUME_DOWN = "volume_down"
    TIME = "time"
    STOP = "stop"
    NEVER_MIND = "never_mind"
    FORGET = "forget"


@dataclass(frozen=True)
class Command:
    intent: Intent
    seconds: int | None = None
    """A timer's length (timer_start)."""
    name: str | None = None
    """A timer's name, from the template's list ("pasta")."""
    percent: int | None = None
    """The volume asked for (volume_set)."""
