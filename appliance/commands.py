"""The control commands, in one table: the control socket accepts these, ``appliance ctl`` documents them
and the app runs them. Commands that change state become events for the state machine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: str = ""  # shown in usage: "" = none, "TEXT" = the rest of the line
    changes_state: bool = False  # becomes an event for the state machine (machine.step)

    @property
    def needs_text(self) -> bool:
        return bool(self.arguments)


COMMAND_TABLE: tuple[Command, ...] = (
    Command("status", "state, mute, readiness, turns, volume and version"),
    Command("press", "a short button press: talk, or stop what is going on", changes_state=True),
    Command("mute", "turn the microphone off (and forget the conversation)", changes_state=True),
    Command("unmute", "turn the microphone back on", changes_state=True),
    Command(
        "say", "speak TEXT now (refused while busy or while another announcement plays)", "TEXT", changes_state=True
    ),
    Command("announce", "a chime, then speak TEXT (refused while busy, like say)", "TEXT", changes_state=True),
    Command("ask", "ask TEXT as if spoken (refused unless idle)", "TEXT", changes_state=True),
    Command("timers", "the running timers and the time each has left"),
    Command("reset", "forget the conversation"),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMAND_TABLE}

#: The names the control socket accepts, in the table's order.
NAMES: tuple[str, ...] = tuple(BY_NAME)


def usage() -> str:
    """The ``appliance ctl`` usage line."""
    return "usage: appliance ctl {" + "|".join(NAMES) + "} [TEXT]"


def summary() -> str:
    """One line for the ``ctl`` subcommand's help: status|press|...|say TEXT|ask TEXT|reset."""
    return "|".join(f"{c.name} {c.arguments}".strip() for c in COMMAND_TABLE)


def describe() -> str:
    """Every command with its help, one a line (the ``ctl`` subcommand's epilog)."""
    width = max(len(f"{c.name} {c.arguments}".strip()) for c in COMMAND_TABLE)
    return "\n".join(f"  {f'{c.name} {c.arguments}'.strip():<{width}}  {c.help}" for c in COMMAND_TABLE)
