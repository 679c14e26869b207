"""The names of the device's own commands (``local.commands`` lists them; :mod:`appliance.local` answers them).

They sit with the configuration, below the local commands, so the settings check the names without
importing a capability."""

from __future__ import annotations

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
