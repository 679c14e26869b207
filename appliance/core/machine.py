"""What every event does in every state: one pure function, :func:`step`, and the table derived from it.

``step(snapshot, event) -> (next snapshot, effects)`` holds all of the appliance's behaviour; the app only
feeds it events (wake word, presses, the listener's and the turn's news, control commands, timers) and
carries out the effects it returns (start listening, start or cancel a turn, play an earcon, emit events).
No clocks, threads or audio here, so every behaviour is tested as a sequence of events in and effects out.

:data:`TRANSITIONS` (:func:`transitions`) is not written by hand: it is every state change :func:`step`
makes on the paths an exploration of events from the initial snapshot reaches, so it cannot allow a
transition no event produces.

To add a state: add it to :class:`State`, make the events that enter and leave it return it in ``step``,
and say what every other event does in it (the exploration, :mod:`appliance.core.exploration`, then lists
its transitions). To add an event: a frozen dataclass here, a branch in ``step``, and a sample of it in
:func:`~appliance.core.exploration.sample_events`.

Announcements (``ctl say``) do not change the state (the LEDs keep showing idle or muted). One plays at a
time: a second ``say`` while one plays is refused ("busy (announcing)"), not queued, so a script learns at
once and a stale message never plays late; ``say`` during a turn or an alert is refused too. The button
(which then does nothing else), mute, a new turn (wake word, ``ctl ask``) and shutdown stop one.

Timers (the ``ALERTING`` state), decided here:
- idle: a timer ending rings at once (idle -> alerting);
- listening, thinking, speaking: it is queued and rings as soon as the turn is over, instead of the
  follow-up or idle (a question is not cut off by a kitchen timer, but the timer is never lost);
- muted: it rings at once, and the state stays ``muted`` (the microphone stays off, so no wake word can
  stop it; a press or unmuting does, and a timer queued behind it rings next): a muted microphone must not
  silence a kitchen timer;
- alerting: it is queued behind the one ringing, which must be stopped (or stop) first.
While alerting, a short press, ``ctl press`` or the wake word stops the alert; a long press stops it and
mutes; muting by command keeps it ringing; a question (``ctl ask``) or an announcement is refused.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from appliance.core import exploration
from appliance.core.machine_io import (  # the machine's vocabulary, re-exported
    Alert,
    AlertStopped,
    AnnouncementDone,
    Arbitrated,
    Ask,
    CancelTurn,
    ClaimWake,
    DiscardRecording,
    Earcon,
    Effect,
    Emit,
    EndRecording,
    FinishTurn,
    InternalError,
    KeepWake,
    MachineEvent,
    MicEnded,
    PlayEarcon,
    Press,
    Progress,
    RecordingEnded,
    Refuse,
    ReportMicError,
    ResetConversation,
    S,
    Say,
    SetMute,
    SetMuted,
    Shutdown,
    Snapshot,
    StartAlert,
    StartAnnouncement,
    StartListening,
    StartTurn,
    State,
    Stop,
    StopAlert,
    StopAnnouncement,
    TimerEnded,
    TurnDone,
    TurnProgress,
    WakeWord,
)
from appliance.events import Arbitration, Button, Info, PressKind, Stopped, Turn, TurnOutcome, Wake, WakeSource
from appliance.events import Mute as MuteEvent
from appliance.events import StateChanged as StateEvent

Result = tuple[Snapshot, tuple[Effect, ...]]

__all__ = [
    "Alert",
    "AlertStopped",
    "AnnouncementDone",
    "Arbitrated",
    "Ask",
    "CancelTurn",
    "ClaimWake",
    "DiscardRecording",
    "Earcon",
    "Effect",
    "Emit",
    "EndRecording",
    "FinishTurn",
    "InternalError",
    "InvalidTransition",
    "KeepWake",
    "MachineEvent",
    "MicEnded",
    "PlayEarcon",
    "Press",
    "PressKind",
    "Progress",
    "RecordingEnded",
    "Refuse",
    "ReportMicError",
    "ResetConversation",
    "Result",
    "S",
    "Say",
    "SetMute",
    "SetMuted",
    "Shutdown",
    "Snapshot",
    "StartAlert",
    "StartAnnouncement",
    "StartListening",
    "StartTurn",
    "State",
    "StateMachine",
    "Stop",
    "StopAlert",
    "StopAnnouncement",
    "TimerEnded",
    "TurnDone",
    "TurnProgress",
    "WakeWord",
    "explore",
    "step",
    "transitions",
]


def step(s: Snapshot, event: MachineEvent) -> Result:
    """The next snapshot and the effects to carry out, in order, for ``event`` in ``s``."""
    if s.stopping:
        return s, ()
    fx: list[Effect] = []
    match event:
        case WakeWord(model, score):
            # the app only listens for the wake word in idle, thinking, speaking and alerting
            if s.state not in (S.IDLE, S.THINKING, S.SPEAKING, S.ALERTING) or s.muted or s.mic_ended:
                return s, ()
            if s.arbitrating:
                return s, ()  # the same wake word again, while the household decides
            fx.append(Emit(Wake(WakeSource.WAKE_WORD, model, round(float(score), 4))))
            if s.state == S.ALERTING:
                return _rest(_stop_alert(s, "wake_word", fx), "wake_word", fx)
            if s.household and s.state == S.IDLE:  # nothing chimes or records until this device has won
                fx.append(ClaimWake(score))
                return replace(s, arbitrating=True), tuple(fx)
            if s.household:  # a barge-in: the conversation stays on this device, the others defer to it
                fx.append(KeepWake(score))
            s = _stop_activity(s, "barge_in", fx)
            return _listen(s, "wake_word", fx, preroll=True)
        case Arbitrated(won, winner, reason, peers, margin_db, ms):
            if not s.arbitrating:
                return s, ()  # a press, a timer or a command came first: nothing is left to decide
            s = replace(s, arbitrating=False)
            fx.append(Emit(Arbitration(won, reason, winner, peers, margin_db, ms)))
            if not won:
                return s, tuple(fx)
            s = _stop_activity(s, "barge_in", fx)
            return _listen(s, "wake_word", fx, preroll=True)
        case Press(kind, source):
            fx.append(Emit(Button(kind)))
            if kind == PressKind.LONG:
                if s.alert is not None and not s.muted:  # a press always stops a ringing alert
                    s = _stop_alert(s, source, fx)
                return _set_muted(s, not s.muted, source, fx)
            return _short_press(s, source, fx)
        case SetMuted(muted, source):
            if muted == s.muted:
                return s, ()
            return _set_muted(s, muted, source, fx)
        case RecordingEnded(speech):
            if s.state != S.LISTENING:
                return s, ()
            if not speech:
                s = replace(s, turns=s.turns + 1)
                fx.append(Emit(Turn(s.turns, TurnOutcome.NO_SPEECH)))
                return _rest(s, "no_speech", fx)
            return _start_turn(s, None, "endpoint", fx)
        case TurnProgress(turn, what):
            if turn == 0 or turn != s.turn:
                return s, ()  # a cancelled turn's late news
            if what == Progress.SPEAKING and s.state == S.THINKING:
                return _go(s, S.SPEAKING, "first_audio", fx)
            if what == Progress.THINKING and s.state == S.SPEAKING:
                return _go(s, S.THINKING, "tool_round", fx)
            return s, ()
        case TurnDone(turn, outcome, follow_up, confirm):
            if turn == 0 or turn != s.turn:
                return s, ()
            fx.append(FinishTurn(turn, outcome))
            s = replace(s, turn=0)
            if (follow_up or confirm) and outcome == "answered" and not s.mic_ended and not s.pending:
                fx.append(Emit(Info("follow_up")))
                return _listen(s, "follow_up", fx, preroll=False, follow_up=True, confirming=confirm)
            return _rest(s, outcome, fx)
        case Ask(text):
            if s.state != S.IDLE:
                return s, (Refuse(f"busy ({s.state.value})"),)
            s = _stop_announcement(s, "turn", fx)
            return _start_turn(s, text, "text", fx)
        case Say(text, chime):
            if s.state not in (S.IDLE, S.MUTED) or s.alert is not None:
                return s, (Refuse(f"busy ({S.ALERTING.value if s.alert else s.state.value})"),)
            if s.announcing:
                return s, (Refuse("busy (announcing)"),)
            s = replace(s, jobs=s.jobs + 1, announcing=s.jobs + 1)
            return s, (StartAnnouncement(s.announcing, text, chime),)
        case AnnouncementDone(job):
            return (replace(s, announcing=0), ()) if job == s.announcing else (s, ())
        case MicEnded(error):
            if error:
                fx.append(ReportMicError(error))
            s = replace(s, mic_ended=True)
            if s.state == S.LISTENING:
                fx.append(EndRecording("input_ended"))
            return s, tuple(fx)
        case Shutdown(reason):
            s = _stop_activity(s, "shutdown", fx)
            if s.alert is not None:
                s = _stop_alert(s, "shutdown", fx)
            fx.append(Stop(reason))
            fx.append(Emit(Stopped(reason)))
            return replace(s, stopping=True), tuple(fx)
        case TimerEnded(label, missed, timer):
            alert = Alert(label, missed, timer)
            if s.alert is None and s.state in (S.IDLE, S.MUTED):
                return _ring(s, alert, "timer", fx)
            return replace(s, pending=(*s.pending, alert)), ()
        case AlertStopped(reason):
            if s.alert is None:
                return s, ()
            fx.append(Emit(Info("alert_stopped", reason)))
            return _rest(replace(s, alert=None), reason, fx)
        case InternalError():
            s = _stop_activity(s, "error", fx)
            return _rest(s, "error", fx)
    raise TypeError(f"not a machine event: {event!r}")


# --- the pieces step is made of ---------------------------------------------------------------------------


def _go(s: Snapshot, target: State, reason: str, fx: list[Effect]) -> Result:
    if target != s.state:
        fx.append(Emit(StateEvent(target.value, s.state.value, reason)))
        s = replace(s, state=target, arbitrating=False)  # leaving idle ends a wait for the household
    return s, tuple(fx)


def _rest(s: Snapshot, reason: str, fx: list[Effect]) -> Result:
    """Idle (or muted); a timer that ended meanwhile rings now instead."""
    if s.alert is not None:
        return _go(s, S.MUTED if s.muted else S.ALERTING, reason, fx)
    if s.pending:
        return _ring(replace(s, pending=s.pending[1:]), s.pending[0], "timer", fx)
    return _go(s, S.MUTED if s.muted else S.IDLE, reason, fx)


def _ring(s: Snapshot, alert: Alert, reason: str, fx: list[Effect]) -> Result:
    s = replace(s, alert=alert)
    fx.append(StartAlert(alert.label, alert.missed, alert.timer))
    return _go(s, S.MUTED if s.muted else S.ALERTING, reason, fx)


def _stop_alert(s: Snapshot, reason: str, fx: list[Effect]) -> Snapshot:
    fx.append(StopAlert(reason))
    return replace(s, alert=None)


def _stop_announcement(s: Snapshot, reason: str, fx: list[Effect]) -> Snapshot:
    if s.announcing:
        fx.append(StopAnnouncement(s.announcing, reason))
        s = replace(s, announcing=0)
    return s


def _stop_activity(s: Snapshot, reason: str, fx: list[Effect], *, report_recording: bool = False) -> Snapshot:
    """Cancel the turn, the recording and the announcement in progress (not an alert)."""
    if s.turn:
        fx.append(CancelTurn(s.turn, reason))
        s = replace(s, turn=0)
    if s.state == S.LISTENING:
        fx.append(DiscardRecording(report=report_recording))
    return _stop_announcement(s, reason, fx)


def _listen(
    s: Snapshot, source: str, fx: list[Effect], *, preroll: bool, follow_up: bool = False, confirming: bool = False
) -> Result:
    """Listen; only the listen right after a confirmation question takes its answer (``confirming``)."""
    if s.mic_ended:
        return _rest(s, source, fx)
    s, _ = _go(replace(s, confirming=confirming), S.LISTENING, source, fx)
    fx.append(StartListening(preroll=preroll, follow_up=follow_up))
    if not follow_up:
        fx.append(PlayEarcon(Earcon.CHIME))
    return s, tuple(fx)


def _start_turn(s: Snapshot, text: str | None, reason: str, fx: list[Effect]) -> Result:
    confirming = s.confirming and text is None and reason == "endpoint"
    s = replace(s, turns=s.turns + 1, turn=s.turns + 1, confirming=False)
    s, _ = _go(s, S.THINKING, reason, fx)
    fx.append(StartTurn(s.turn, text, confirming))
    return s, tuple(fx)


def _short_press(s: Snapshot, source: str, fx: list[Effect]) -> Result:
    reason = "button" if source == "button" else "stop"
    if s.alert is not None:  # ringing (alerting, or muted): the press stops it
        return _rest(_stop_alert(s, source, fx), source, fx)
    if s.state == S.MUTED:
        fx.append(Emit(Info("muted", "the microphone is muted: hold the button to unmute")))
        return s, tuple(fx)
    if s.state == S.IDLE:
        if s.announcing:  # the button stops an announcement and does nothing else
            return _stop_announcement(s, reason, fx), tuple(fx)
        return _listen(s, source, fx, preroll=True)
    # listening, thinking, speaking: stop everything
    listening = s.state == S.LISTENING
    if s.turn:
        fx.append(CancelTurn(s.turn, reason))
    s, _ = _rest(replace(s, turn=0), reason, fx)
    if listening:  # the cancelled recording is reported after the state change
        fx.append(DiscardRecording(report=True))
    return s, tuple(fx)


def _set_muted(s: Snapshot, muted: bool, source: str, fx: list[Effect]) -> Result:
    if muted:
        s = replace(_stop_activity(s, "mute", fx), muted=True)
    else:  # unmuting acknowledges the timer ringing while muted; those queued behind it ring next (below)
        if s.alert is not None:
            s = _stop_alert(s, "unmute", fx)
        s = replace(s, muted=False)
    queued = bool(s.pending) and s.alert is None  # a timer that ended during the turn, or behind the one ringing
    if muted or not queued:  # unmuting with a timer queued goes straight to alerting (below)
        s, _ = _go(s, S.MUTED if muted else S.IDLE, source, fx)
    if muted:  # muting is a privacy gesture: the conversation is forgotten too
        fx.append(ResetConversation())
    fx.append(Emit(MuteEvent(muted)))
    fx.append(SetMute(muted))
    fx.append(PlayEarcon(Earcon.MUTE_ON if muted else Earcon.MUTE_OFF))
    if queued:  # it rings now, muted or not
        s, _ = _ring(replace(s, pending=s.pending[1:]), s.pending[0], "timer", fx)
    return s, tuple(fx)


# --- the derived table ----------------------------------------------------------------------------------


def explore(start: Snapshot | None = None) -> dict[tuple[State, State], tuple[MachineEvent, ...]]:
    """Every transition reachable from ``start``, each with a shortest sequence of events producing it."""
    return exploration.explore(step, start)


@cache
def transitions() -> dict[State, frozenset[State]]:
    """Every transition :func:`step` makes, and nothing else (derived, never edited by hand).

    Computed on first use (about 0.1 s); the app asks for it at start-up, not in the middle of a turn."""
    pairs = {**explore(Snapshot(household=True)), **explore()}  # with a household and without
    return {a: frozenset(b for (x, b) in pairs if x == a) for a in State}


def __getattr__(name: str) -> dict[State, frozenset[State]]:
    if name == "TRANSITIONS":  # ``from appliance.core.machine import TRANSITIONS``: the derived table
        return transitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InvalidTransition(RuntimeError):
    pass


class StateMachine:
    """Holds the current state; refuses transitions the table does not allow."""

    def __init__(self, initial: State = State.IDLE) -> None:
        self.state = initial
        self._table = transitions()

    def can(self, target: State) -> bool:
        return target in self._table[self.state]

    def go(self, target: State) -> State:
        """Move to ``target`` and return the previous state. Raises InvalidTransition."""
        if target not in self._table[self.state]:
            raise InvalidTransition(f"{self.state.value} -> {target.value} is not allowed")
        previous, self.state = self.state, target
        return previous
