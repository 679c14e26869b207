"""The control commands, in one table: the control socket accepts these, ``appliance ctl`` documents them
and the app runs them. Commands that change state become events for the state machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from appliance.core import machine as m

if TYPE_CHECKING:  # `appliance ctl` and `config reference` read the table without loading the appliance
    from appliance.core.parts import Ports
    from appliance.events import EventBus


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
    Command(
        "announce",
        "a chime, then speak TEXT (refused while busy, like say); --all: on every device of the household, "
        "each saying whether it played it",
        "[--all] TEXT",
        changes_state=True,
    ),
    Command("ask", "ask TEXT as if spoken (refused unless idle)", "TEXT", changes_state=True),
    Command("timers", "the running timers and the time each has left"),
    Command("tools", "the tools the model is offered now (built-in and from MCP servers)"),
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


class Appliance(Protocol):
    """What the commands read and do (the app, appliance/core/app.py)."""

    ports: Ports
    snapshot: m.Snapshot
    ready: bool
    turns_completed: int
    volume: float

    @property
    def state(self) -> m.State: ...

    @property
    def muted(self) -> bool: ...

    def reset_conversation(self) -> None: ...

    def feed(self, event: m.MachineEvent) -> str:
        """Feed an event to the state machine; its refusal, if any."""
        ...


def execute(app: Appliance, name: str, args: tuple[str, ...]) -> dict[str, Any]:
    """Run one command in the app's main loop and say how it went (the control socket's reply)."""
    from appliance import __version__

    if name not in BY_NAME:
        return {"ok": False, "error": f"unknown command {name!r}"}
    text = " ".join(args).strip()
    if name == "status":
        return {
            "ok": True,
            "state": app.state.value,
            "muted": app.muted,
            "ready": app.ready,
            "turns": app.turns_completed,
            "volume": app.volume,
            "online": app.ports.offline is None or app.ports.offline.online,
            "version": __version__,
        }
    if name == "reset":
        app.reset_conversation()
        return {"ok": True}
    if name == "timers":
        return _timers(app)
    if name == "tools":
        return _tools(app)
    if name == "press":
        app.feed(m.Press(m.PressKind.SHORT, "ctl"))
        return {"ok": True, "state": app.state.value}
    if name in ("mute", "unmute"):
        app.feed(m.SetMuted(name == "mute", "ctl"))
        return {"ok": True, "muted": app.muted}
    if BY_NAME[name].needs_text and not text:
        return {"ok": False, "error": "ask needs the question" if name == "ask" else f"{name} needs the text"}
    if name in ("say", "announce") and app.ports.speech is None:
        return {"ok": False, "error": "speech is not configured"}
    refusal = app.feed(m.Ask(text) if name == "ask" else m.Say(text, chime=name == "announce"))
    if refusal:
        return {"ok": False, "error": refusal}
    return {"ok": True, "turn": app.snapshot.turns} if name == "ask" else {"ok": True}


def _timers(app: Appliance) -> dict[str, Any]:
    service = app.ports.timers
    if service is None:
        return {"ok": False, "error": "this appliance keeps no timers (timers.enabled = false)"}
    from appliance.timers.words import status

    now = service.now()
    running = service.running()
    return {
        "ok": True,
        "text": status(running, now),
        "timers": [{"label": t.label, "seconds": round(t.seconds, 1), "left": round(t.left(now), 1)} for t in running],
    }


def _tools(app: Appliance) -> dict[str, Any]:
    later = app.ports.tools
    if later is None or not later.built:
        return {"ok": False, "error": "no tools yet: the assistant is not built (is OPENAI_API_KEY set?)"}
    registry = later.get()
    tools = [
        {
            "name": t.name,
            "source": t.source or "built-in",
            "read_only": t.read_only,
            "destructive": t.destructive,
            "strict": t.strict,
            "description": t.description,
        }
        for t in registry
    ]
    by_source: dict[str, int] = {}
    for t in tools:
        by_source[str(t["source"])] = by_source.get(str(t["source"]), 0) + 1
    text = ", ".join(f"{count} {source}" for source, count in by_source.items())
    return {"ok": True, "text": f"{len(tools)} tools ({text})" if tools else "no tools", "tools": tools}


class Announcing(Appliance, Protocol):
    """What ``announce --all`` needs besides the commands': the app's own command queue and its events."""

    bus: EventBus

    def command(self, name: str, args: list[str] | tuple[str, ...] = (), timeout: float = 5.0) -> dict[str, Any]: ...


def announce_all(app: Announcing, text: str, *, here: bool = True) -> dict[str, Any]:
    """``ctl announce --all TEXT``: the chime and ``text`` here (unless ``here`` is false: the model's tool,
    whose turn answers here) and on every device of the household, each refusing as it would alone
    (busy); blocks until the devices answered (about a second; any thread but the main loop's)."""
    from appliance.events import Announced

    household = app.ports.household
    if household is None:
        return {"ok": False, "error": "the household is off or has no secret (appliance doctor): use announce"}
    if not text:
        return {"ok": False, "error": "announce --all needs the text"}
    devices: dict[str, str] = {}
    if here:
        reply = app.command("announce", (text,))
        devices[household.device] = "played" if reply.get("ok") else str(reply.get("error") or "refused")
    devices.update({d.device: d.status for d in household.announce_all(text)})
    app.bus.emit(Announced(text, devices))
    listed = [{"device": name, "ok": status == "played", "status": status} for name, status in devices.items()]
    ok = bool(devices) and all(status == "played" for status in devices.values())
    return {"ok": ok, "devices": listed} | ({} if ok else {"error": "not played everywhere"})
