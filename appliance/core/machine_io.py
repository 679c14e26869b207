"""What goes into :func:`appliance.core.machine.step` and what comes out: states, events, effects, the snapshot.

Events say what happened; effects say what the app must do. All are small frozen dataclasses, so a test
writes a sequence of them and compares what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from appliance.events import Event, PressKind


class State(StrEnum):
    IDLE = "idle"  # waiting for the wake word or a button press
    LISTENING = "listening"  # recording the question until the speaker stops
    THINKING = "thinking"  # transcribing, asking the model, running tools
    SPEAKING = "speaking"  # playing the answer (or an error phrase)
    MUTED = "muted"  # microphone off: no wake word, no recording
    ALERTING = "alerting"  # a timer is ringing until it is stopped


S = State


class Progress(StrEnum):
    THINKING = "thinking"  # the model is working again (a tool round after a spoken filler)
    SPEAKING = "speaking"  # audio of the answer is playing


class Earcon(StrEnum):
    CHIME = "chime"
    MUTE_ON = "mute_on"
    MUTE_OFF = "mute_off"


# --- events: what happened --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WakeWord:
    model: str
    score: float


@dataclass(frozen=True)
class Arbitrated:
    """The household decided the wake word this device heard (appliance/household): it answers, or another
    device does."""

    won: bool
    winner: str = ""
    reason: str = ""  # appliance.household.arbiter.Reason
    peers: int = 0
    margin_db: float = 0.0
    ms: float = 0.0


@dataclass(frozen=True)
class Press:
    kind: PressKind = PressKind.SHORT
    source: str = "button"  # "button", "ctl", "tool"


@dataclass(frozen=True)
class RecordingEnded:
    speech: bool  # False: nothing was said (no cloud request)


@dataclass(frozen=True)
class TurnProgress:
    turn: int
    what: Progress


@dataclass(frozen=True)
class TurnDone:
    turn: int
    outcome: str  # "answered", "empty_transcript", "cancelled", "error"
    follow_up: bool = False
    confirm: bool = False  # the answer asked the user to confirm a call: listen for the yes, no wake word


@dataclass(frozen=True)
class SetMuted:
    muted: bool
    source: str = "ctl"


@dataclass(frozen=True)
class Ask:
    text: str


@dataclass(frozen=True)
class Say:
    text: str
    chime: bool = False  # `ctl announce`: a chime first, so the room knows a message follows


@dataclass(frozen=True)
class AnnouncementDone:
    job: int


@dataclass(frozen=True)
class MicEnded:
    error: str = ""


@dataclass(frozen=True)
class Shutdown:
    reason: str = "shutdown"


@dataclass(frozen=True)
class TimerEnded:
    label: str
    missed: bool = False  # it ended while the appliance was not running
    timer: int = 0  # its id in the timer service, told back when it rings (StartAlert); 0: none


@dataclass(frozen=True)
class AlertStopped:
    reason: str  # the alert ended by itself ("timeout") or was stopped elsewhere


@dataclass(frozen=True)
class InternalError:
    """Handling an event failed in the app: put the appliance back at rest."""


MachineEvent = (
    WakeWord
    | Arbitrated
    | Press
    | RecordingEnded
    | TurnProgress
    | TurnDone
    | SetMuted
    | Ask
    | Say
    | AnnouncementDone
    | MicEnded
    | Shutdown
    | TimerEnded
    | AlertStopped
    | InternalError
)

# --- effects: what the app must do -----------------------------------------------------------------------


@dataclass(frozen=True)
class StartListening:
    preroll: bool  # keep the audio just before the trigger (wake word, button)
    follow_up: bool = False  # the shorter start timeout of a follow-up question


@dataclass(frozen=True)
class ClaimWake:
    """Ask the household whether this device answers the wake word just heard (the answer: Arbitrated)."""

    score: float


@dataclass(frozen=True)
class KeepWake:
    """The wake word interrupted this device's own conversation: it keeps it, and tells the household."""

    score: float


@dataclass(frozen=True)
class EndRecording:
    """Finish the recording now (the input ended) and report it as RecordingEnded."""

    reason: str


@dataclass(frozen=True)
class DiscardRecording:
    report: bool  # emit a "cancelled" recording event


@dataclass(frozen=True)
class PlayEarcon:
    earcon: Earcon


@dataclass(frozen=True)
class StartTurn:
    turn: int
    text: str | None = None  # None: transcribe the utterance just recorded
    confirming: bool = False  # the utterance answers a confirmation question (it came in the listen after it)


@dataclass(frozen=True)
class CancelTurn:
    turn: int
    reason: str


@dataclass(frozen=True)
class FinishTurn:
    """Report the turn (its outcome and timings)."""

    turn: int
    outcome: str


@dataclass(frozen=True)
class StartAnnouncement:
    job: int
    text: str
    chime: bool = False


@dataclass(frozen=True)
class StopAnnouncement:
    job: int
    reason: str


@dataclass(frozen=True)
class StartAlert:
    label: str
    missed: bool
    timer: int = 0  # the timer ringing (TimerEnded.timer): the app tells the service it has rung


@dataclass(frozen=True)
class StopAlert:
    reason: str


@dataclass(frozen=True)
class SetMute:
    muted: bool


@dataclass(frozen=True)
class ResetConversation:
    pass


@dataclass(frozen=True)
class Emit:
    event: Event


@dataclass(frozen=True)
class Refuse:
    """A command that cannot run now; the reason goes back to the caller."""

    error: str


@dataclass(frozen=True)
class ReportMicError:
    message: str


@dataclass(frozen=True)
class Stop:
    reason: str


Effect = (
    StartListening
    | ClaimWake
    | KeepWake
    | EndRecording
    | DiscardRecording
    | PlayEarcon
    | StartTurn
    | CancelTurn
    | FinishTurn
    | StartAnnouncement
    | StopAnnouncement
    | StartAlert
    | StopAlert
    | SetMute
    | ResetConversation
    | Emit
    | Refuse
    | ReportMicError
    | Stop
)


@dataclass(frozen=True)
class Alert:
    label: str
    missed: bool = False
    timer: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What :func:`step` needs to decide; the app keeps the latest one."""

    state: State = State.IDLE
    muted: bool = False
    turn: int = 0  # the turn in progress (thinking/speaking), 0 = none
    turns: int = 0  # the last turn id handed out
    announcing: int = 0  # the announcement playing, 0 = none
    jobs: int = 0  # the last announcement id handed out
    mic_ended: bool = False
    alert: Alert | None = None  # ringing now (in ALERTING, or while MUTED)
    pending: tuple[Alert, ...] = ()  # timers that ended during a turn or another alert
    stopping: bool = False
    household: bool = False  # other devices may answer a wake word heard here (appliance/household)
    arbitrating: bool = False  # idle, waiting for the household's decision on a wake word heard here
    confirming: bool = False  # listening (without the wake word) for the answer to a confirmation question
