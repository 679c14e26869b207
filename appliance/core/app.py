"""The appliance's loop: events in, :func:`appliance.core.machine.step`, effects out.

Threads only post to the inbox: the microphone reader its frames; the button, the control socket, tools and
signal handlers their presses and commands; each turn (appliance/core/turn.py) its progress. Control messages
are taken before audio frames, so a press never waits behind queued audio. Only this loop calls ``step``,
so what every event does in every state stays in appliance/core/machine.py; here it is carried out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from appliance import ports as p
from appliance.audio.convert import apply_volume
from appliance.audio.earcons import chime, mute_tone
from appliance.cancel import CancelToken
from appliance.config.settings import Settings
from appliance.core import machine as m
from appliance.core.commands import announce_all, execute
from appliance.core.controls import ControlsView
from appliance.core.hearing import Hearing, read_microphone
from appliance.core.inbox import Command, Frame, Inbox
from appliance.core.jobs import Jobs
from appliance.core.parts import Ports as Ports
from appliance.core.turn import Stages, prepare_connections
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import (
    Error,
    Event,
    EventBus,
    Info,
    Ready,
    Recording,
    RecordingEnd,
    StateChanged,
)
from appliance.listening.listener import Listener, SilencePolicy, Utterance, end_of_turn_event
from appliance.listening.live_transcript import HeardText, LiveTranscript

log = logging.getLogger(__name__)

_EARCONS: dict[m.Earcon, Callable[[], tuple[np.ndarray, int]]] = {
    m.Earcon.CHIME: chime,
    m.Earcon.MUTE_ON: lambda: mute_tone(True),
    m.Earcon.MUTE_OFF: lambda: mute_tone(False),
}


class App:
    def __init__(
        self,
        settings: Settings,
        ports: Ports,
        bus: EventBus | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[str], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.bus = bus or EventBus()
        self.clock = clock
        self.snapshot = m.Snapshot()
        self.machine = m.StateMachine()  # a guard: every state change step makes must be in the table
        self.inbox = Inbox()
        self.ready = False
        self.turns_completed = 0
        self.volume = settings.audio.volume
        policy = ports.end_of_turn or SilencePolicy(settings.endpoint)
        self.listener = Listener(ports.vad, policy, settings.wake.preroll_seconds)
        self.live = LiveTranscript(ports.transcriber, lambda message: self.inbox.put(message, audio=True))
        self.hearing = Hearing(settings, ports, self.listener, self.live)
        if self.live.segments and self.listener.text_policy is not None:
            self.listener.text_policy.set_text_request(self.live.request_text)
        self._endpoint_wait_ms: float | None = None
        self._on_status, self._on_tick, self._on_ready = on_status, on_tick, on_ready
        self.jobs = Jobs(settings, self._stages, self.bus.emit, clock)  # the turn and the announcement
        self._utterance: Utterance | None = None
        self._refusal = ""
        self._exit_code = 0

    # --- public API (thread-safe) -------------------------------------------------------------------

    def press(self, kind: str = "short", source: str = "button") -> None:
        """A button press from any thread ("short" or "long")."""
        self.inbox.put(m.Press(m.PressKind(kind), source))

    def shutdown(self, reason: str = "shutdown") -> None:
        self.inbox.put(m.Shutdown(reason))

    def timer_ended(self, label: str, missed: bool = False, timer: int = 0) -> None:
        """``timer``: its id in ``ports.timers``, told that it has rung once its alert starts."""
        self.inbox.put(m.TimerEnded(label, missed, timer))

    def alert_stopped(self, reason: str) -> None:
        self.inbox.put(m.AlertStopped(reason))

    def command(self, name: str, args: list[str] | tuple[str, ...] = (), timeout: float = 5.0) -> dict[str, Any]:
        """Run a control command in the main loop and return its reply (for the control socket)."""
        answered = threading.Event()
        box: list[dict[str, Any]] = []

        def reply(value: dict[str, Any]) -> None:
            box.append(value)
            answered.set()

        if name == "announce" and tuple(args[:1]) == ("--all",):
            return announce_all(self, " ".join(args[1:]).strip())
        self.inbox.put(Command(name, tuple(args), reply))
        if not answered.wait(timeout):
            return {"ok": False, "error": "the appliance did not answer in time"}
        return box[0]

    @property
    def state(self) -> m.State:
        return self.snapshot.state

    @property
    def muted(self) -> bool:
        return self.snapshot.muted

    # --- controls for tools --------------------------------------------------------------------------

    def get_volume(self) -> float:
        return self.volume

    def set_volume(self, value: float) -> float:
        self.volume = round(max(0.0, min(1.0, value)), 2)
        self.bus.emit(Info("volume", f"{self.volume:.2f}"))
        return self.volume

    def stop_turn(self) -> None:
        self.inbox.put(m.Press(m.PressKind.SHORT, "tool"))

    def reset_conversation(self) -> None:
        if self.ports.assistant is not None:
            self.ports.assistant.reset()
        self.bus.emit(Info("conversation_reset"))

    def camera_allowed(self) -> bool:
        return self.settings.camera.enabled and not self.muted and self.ports.camera is not None

    def tool_context(self, cancel: CancelToken, emit: Callable[[Any], None]) -> p.ToolContext:
        """Called by the assistant as each tool starts: the turn shows it is thinking again."""
        self.jobs.tool_round()
        return p.ToolContext(
            controls=ControlsView(self),
            camera=self.ports.camera,
            indicators=self.ports.indicators,
            cancel=cancel,
            emit=emit,
            settings=self.settings,
        )

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the microphone ends (WAV input) or shutdown. Returns the exit code."""
        # with a household, a wake word heard in idle waits for the other devices (appliance/household)
        self.snapshot = replace(self.snapshot, household=self.ports.household is not None)
        threading.Thread(
            target=read_microphone, args=(self.ports, self.inbox.put), name="microphone", daemon=True
        ).start()
        self.ready = True
        self.bus.emit(Ready())
        self.bus.emit(StateChanged(m.State.IDLE.value, "", "start"))
        if self._on_ready:
            self._on_ready()
        self._status()
        try:
            while not self.snapshot.stopping:
                message = self.inbox.get(timeout=0.5)
                if self._on_tick:
                    self._on_tick()
                if message is not None:
                    self._handle(message)
                s = self.snapshot
                if (
                    s.mic_ended
                    and not s.turn
                    and not s.arbitrating
                    and s.alert is None
                    and s.state in (m.State.IDLE, m.State.MUTED)
                ):
                    break
        finally:
            self._close()
        return self._exit_code

    def _handle(self, message: Any) -> None:
        try:
            if isinstance(message, Frame):
                self._on_frame(message.pcm, message.tap)
            elif isinstance(message, HeardText):
                utterance = self.listener.heard_text(message.text, message.token)
                if utterance is not None:
                    self._recorded(utterance)
            elif isinstance(message, Command):
                self._answer(message)
            else:
                self._feed(message)
        except Exception as exc:  # the loop must survive anything one message does
            log.exception("main loop failed on %s", type(message).__name__)
            self._report(ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="main"))
            self._feed(m.InternalError())

    def _feed(self, event: m.MachineEvent) -> None:
        before = self.snapshot.state
        self.snapshot, effects = m.step(self.snapshot, event)
        for effect in effects:
            self._do(effect)
        if self.snapshot.state != before:
            self._status()

    def _do(self, effect: m.Effect) -> None:
        match effect:
            case m.Emit(event):
                self._emit(event)
            case m.StartListening(preroll, follow_up):
                wake = self.settings.wake
                timeout = wake.follow_up_seconds if follow_up else self.settings.endpoint.start_timeout
                self.listener.start(preroll=preroll, start_timeout=timeout)
                prepare_connections(self.ports.assistant, self.ports.speech)
                self.live.begin(self.listener.recorded())  # the turn is open: its audio may stream now
            case m.ClaimWake(score):
                if self.ports.household is not None:
                    self.ports.household.claim(score)
            case m.KeepWake(score):
                if self.ports.household is not None:
                    self.ports.household.keep_conversation(score)
            case m.EndRecording(reason):
                self._recorded(self.listener.finish(reason))
            case m.DiscardRecording(report):
                start, end = self.listener.discard()
                self.live.discard()
                if report:
                    self.bus.emit(
                        Recording(round(start, 3), round(end, 3), RecordingEnd.CANCELLED, round(end - start, 3))
                    )
            case m.PlayEarcon(earcon):
                self._earcon(_EARCONS[earcon])
            case m.StartTurn(turn, text, confirming):
                audio = self._utterance.audio if text is None and self._utterance is not None else None
                self._utterance = None
                self.jobs.start_turn(turn, audio, text, confirming, self._endpoint_wait_ms)
            case m.CancelTurn(turn, reason):
                self.jobs.cancel_turn(turn, reason)
            case m.FinishTurn(turn, outcome):
                self.jobs.finish_turn(turn, outcome)
                self.turns_completed += 1
            case m.StartAnnouncement(job, text, with_chime):
                self.jobs.start_announcement(job, text, with_chime)
            case m.StopAnnouncement(job, reason):
                self.jobs.stop_announcement(job, reason)
            case m.StartAlert(label, missed, timer):
                self.bus.emit(Info("alert", f"{label} (missed)" if missed else label))
                if self.ports.alerts is not None:
                    self.ports.alerts.start(label, missed)
                if timer and self.ports.timers is not None:  # it has rung: it may leave the state file
                    self.ports.timers.rang(timer)
            case m.StopAlert(reason):
                if self.ports.alerts is not None:
                    self.ports.alerts.stop()
            case m.SetMute(muted):
                log.info("microphone %s", "muted" if muted else "on")
            case m.ResetConversation():
                self.reset_conversation()
            case m.Refuse(error):
                self._refusal = error
            case m.ReportMicError(message):
                self._report(ApplianceError(ErrorKind.AUDIO, message, stage="microphone"))
                self._exit_code = 1
            case m.Stop(reason):
                log.info("stopping: %s", reason)

    def _emit(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.machine.go(m.State(event.state))
        self.bus.emit(event)

    def _status(self) -> None:
        if self._on_status:
            self._on_status(f"{self.state.value}{' (muted)' if self.muted else ''}")

    # --- microphone ----------------------------------------------------------------------------------

    def _on_frame(self, frame: np.ndarray, tap: p.Tap | None = None) -> None:
        heard = self.hearing.frame(frame, tap, self.snapshot)
        if isinstance(heard, Utterance):
            self._recorded(heard)
        elif heard is not None:
            self._feed(m.WakeWord(heard.model, heard.score))

    def _recorded(self, utterance: Utterance) -> None:
        self.bus.emit(
            Recording(
                round(utterance.start, 3),
                round(utterance.end, 3),
                RecordingEnd(utterance.reason),
                round(utterance.seconds, 3),
            )
        )
        self.ports.wake.reset()
        self._report_end_of_turn(utterance)
        if not utterance.speech:
            self.live.discard()
        else:
            text_policy = self.listener.text_policy
            self.live.ended(True if text_policy is None else text_policy.speech_after_commit)
        self._utterance = utterance if utterance.speech else None
        self._feed(m.RecordingEnded(utterance.speech))

    # --- commands ------------------------------------------------------------------------------------

    def _answer(self, command: Command) -> None:
        try:
            reply = execute(self, command.name, command.args)
        except Exception as exc:
            command.reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            raise
        command.reply(reply)

    def feed(self, event: m.MachineEvent) -> str:
        """Feed a control command's event to the machine (main loop only); returns its refusal, if any."""
        self._refusal = ""
        self._feed(event)
        return self._refusal

    def _report_end_of_turn(self, utterance: Utterance) -> None:
        """The ``end_of_turn`` event, and the endpointing wait for the next turn's timings."""
        event = end_of_turn_event(self.listener.policy, utterance, self.settings.endpoint.trailing_silence)
        self._endpoint_wait_ms = None if event is None else event.wait_ms
        if event is not None:
            self.bus.emit(event)

    # --- helpers -------------------------------------------------------------------------------------

    def _stages(self) -> Stages:
        """Read as each job starts (a test may swap a port)."""
        p = self.ports
        return Stages(
            p.transcriber,
            p.assistant,
            p.speech,
            self.bus.emit,
            self.inbox.put,
            self._report,
            self._earcon,
            p.local,
            p.offline,
        )

    def _report(self, exc: ApplianceError) -> None:
        secrets = self.settings.secrets
        log.error(
            "%s error%s: %s", exc.kind.value, f" in {exc.stage}" if exc.stage else "", secrets.redact(exc.message)
        )
        self.bus.emit(Error(exc.kind, exc.stage, secrets.redact(exc.message)))

    def _earcon(self, make: Callable[[], tuple[np.ndarray, int]], cancel: CancelToken | None = None) -> None:
        if not self.settings.audio.earcons:
            return
        pcm, rate = make()
        try:
            self.ports.speaker.play(apply_volume(pcm, self.volume), rate, cancel)
        except Exception as exc:
            log.warning("earcon failed: %s", exc)

    def _close(self) -> None:
        self.jobs.stop("shutdown")
        self.ports.microphone.close()
        self.jobs.join(1.0)
        for closer in [*self.ports.closers]:
            try:
                closer()
            except Exception:
                log.exception("closing failed")
