"""What the app runs with: its ports, built whole by appliance/host/wiring.py (the app, its control commands
and the controls it hands to tools read them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from appliance import ports as p
from appliance.cancel import CancelToken

if TYPE_CHECKING:
    from appliance.household.service import Household
    from appliance.listening.listener import EndOfTurnPolicy
    from appliance.local.commands import Reply
    from appliance.local.offline.mode import OfflineMode
    from appliance.timers.service import TimerService
    from appliance.tools.registry import ToolRegistry

T_co = TypeVar("T_co", covariant=True)


class LocalAnswers(Protocol):
    """The device's own commands (appliance/local/commands.py), answered without the model."""

    def handle(self, text: str, cancel: CancelToken, emit: p.Emit) -> Reply | None:
        """The command ``text`` is, carried out, and what to answer; None when it is none (the model takes it)."""
        ...


class Later(Protocol[T_co]):
    """Something built in the background when first needed (the tools, with the assistant)."""

    @property
    def built(self) -> bool: ...

    def get(self) -> T_co:
        """It, built now if it was not yet."""
        ...


@dataclass
class Ports:
    microphone: p.Microphone
    speaker: p.Speaker
    wake: p.WakeDetector
    vad: p.VoiceActivity
    transcriber: p.Transcriber | None
    assistant: p.Assistant | None
    speech: p.Speech | None
    camera: p.Camera | None = None
    indicators: p.Indicators | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    alerts: p.Alerts | None = None  # what rings when a timer ends
    timers: TimerService | None = None  # the running timers (the timer tools and `ctl timers` use them)
    end_of_turn: EndOfTurnPolicy | None = None  # how the listener hears the end of a question (default: silence)
    echo_cancelled: bool = False  # the front end removes the appliance's own sound from the microphone
    barge_in: p.BargeIn | None = None  # the wake word on the raw microphone while it speaks (needs taps)
    local: LocalAnswers | None = None  # the device's own commands, answered without the model
    offline: OfflineMode | None = None  # the cloud unreachable: the commands recognised on the device
    household: Household | None = None  # the other devices of the group (wake arbitration, announce --all)
    tools: Later[ToolRegistry] | None = None  # the tools offered to the model (built with the assistant; `ctl tools`)
