"""The appliance's loop: events in, :func:`appliance.machine.step`, effects out.

Threads only post to the inbox: the microphone reader its frames; the button, the control socket, tools and
signal handlers their presses and commands; each turn (appliance/turn.py) its progress. Control messages
are taken before audio frames, so a press never waits behind queued audio. Only this loop calls ``step``,
so what every event does in every state stays in appliance/machine.py; here it is carried out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .audio.convert import apply_volume
from .audio.earcons import chime, mute_tone
from .cancel import CancelToken
from .commands import BY_NAME
from .errors import ApplianceError, ErrorKind
from .events import Error, Event, EventBus, Info, Ready, Recording, StateChanged, Turn
from .listener import Listener, SilencePolicy, Utterance
from .machine import (
    AlertStopped,
    Ask,
    CancelTurn,
    DiscardRecording,
    Earcon,
    Effect,
    Emit,
    EndRecording,
    FinishTurn,
    InternalError,
    MachineEvent,
    MicEnded,
    PlayEarcon,
    Press,
    PressKind,
    RecordingEnded,
    Refuse,
    ReportMicError,
    ResetConversation,
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
    StateMachine,
    Stop,
    StopAlert,
    StopAnnouncement,
    TimerEnded,
    WakeWord,
    step,
)
from .ports import (
    Alerts,
    Assistant,
    Camera,
    Indicators,
    Microphone,
    Speaker,
    Speech,
    ToolContext,
    Transcriber,
    VoiceActivity,
    WakeDetector,
)
from .settings import Settings
from .turn import Announcement, Stages, TurnRunner

log = logging.getLogger(__name__)

_EARCONS: dict[Earcon, Callable[[], tuple[np.ndarray, int]]] = {
    Earcon.CHIME: chime,
    Earcon.MUTE_ON: lambda: mute_tone(True),
    Earcon.MUTE_OFF: lambda: mute_tone(False),
}


@dataclass(frozen=True)
class _Frame:
    pcm: np.ndarray


@dataclass(frozen=True)
class _Command:
    name: str
    args: tuple[str, ...]
    reply: Callable[[dict[str, Any]], None]


class Inbox:
    """Two queues read as one: control messages (events, commands) always before audio frames."""

    def __init__(self) -> None:
        self._control: deque[Any] = deque()
        self._frames: deque[_Frame] = deque()
        self._ready = threading.Condition()

    def put(self, message: Any) -> None:
        with self._ready:
            (self._frames if isinstance(message, _Frame) else self._control).append(message)
            self._ready.notify()

    def get(self, timeout: float) -> Any | None:
        with self._ready:
            if not self._control and not self._frames:
                self._ready.wait(timeout)
            if self._control:
                return self._control.popleft()
            return self._frames.popleft() if self._frames else None


@dataclass
class Ports:
    microphone: Microphone
    speaker: Speaker
    wake: WakeDetector
    vad: VoiceActivity
    transcriber: Transcriber | None
    assistant: Assistant | None
    speech: Speech | None
    camera: Camera | None = None
    indicators: Indicators | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    alerts: Alerts | None = None


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
        self.snapshot = Snapshot()
        self.machine = StateMachine()  # a guard: every state change step makes must be in the table
        self.inbox = Inbox()
        self.ready = False
        self.turns_completed = 0
        self.volume = settings.audio.volume
        self.listener = Listener(ports.vad, SilencePolicy(settings.endpoint), settings.wake.preroll_seconds)
        self._on_status, self._on_tick, self._on_ready = on_status, on_tick, on_ready
        self._stages = Stages(
            ports.transcriber, ports.assistant, ports.speech, self.bus.emit, self.inbox.put, self._report, self._earcon
        )
        self._runner: TurnRunner | None = None
        self._announcement: Announcement | None = None
        self._utterance: Utterance | None = None
        self._refusal = ""
        self._workers: list[threading.Thread] = []
        self._exit_code = 0

    # --- public API (thread-safe) -------------------------------------------------------------------

    def press(self, kind: str = "short", source: str = "button") -> None:
        """A button press from any thread ("short" or "long")."""
        self.inbox.put(Press(PressKind(kind), source))

    def shutdown(self, reason: str = "shutdown") -> None:
        self.inbox.put(Shutdown(reason))

    def timer_ended(self, label: str, missed: bool = False) -> None:
        self.inbox.put(TimerEnded(label, missed))

    def alert_stopped(self, reason: str) -> None:
        self.inbox.put(AlertStopped(reason))

    def command(self, name: str, args: list[str] | tuple[str, ...] = (), timeout: float = 5.0) -> dict[str, Any]:
        """Run a control command in the main loop and return its reply (for the control socket)."""
        answered = threading.Event()
        box: list[dict[str, Any]] = []

        def reply(value: dict[str, Any]) -> None:
            box.append(value)
            answered.set()

        self.inbox.put(_Command(name, tuple(args), reply))
        if not answered.wait(timeout):
            return {"ok": False, "error": "the appliance did not answer in time"}
        return box[0]

    @property
    def state(self) -> State:
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
        self.inbox.put(Press(PressKind.SHORT, "tool"))

    def reset_conversation(self) -> None:
        if self.ports.assistant is not None:
            self.ports.assistant.reset()
        self.bus.emit(Info("conversation_reset"))

    def camera_allowed(self) -> bool:
        return self.settings.camera.enabled and not self.muted and self.ports.camera is not None

    def tool_context(self, cancel: CancelToken, emit: Callable[[Any], None]) -> ToolContext:
        """Called by the assistant as each tool starts: the turn shows it is thinking again."""
        runner = self._runner
        if runner is not None:
            runner.tool_round()
        return ToolContext(
            controls=_ControlsView(self),
            camera=self.ports.camera,
            indicators=self.ports.indicators,
            cancel=cancel,
            emit=emit,
            settings=self.settings,
        )

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the microphone ends (WAV input) or shutdown. Returns the exit code."""
        threading.Thread(target=self._read_mic, name="microphone", daemon=True).start()
        self.ready = True
        self.bus.emit(Ready())
        self.bus.emit(StateChanged(State.IDLE.value, "", "start"))
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
                if s.mic_ended and not s.turn and s.alert is None and s.state in (State.IDLE, State.MUTED):
                    break
        finally:
            self._close()
        return self._exit_code

    def _handle(self, message: Any) -> None:
        try:
            if isinstance(message, _Frame):
                self._on_frame(message.pcm)
            elif isinstance(message, _Command):
                self._answer(message)
            else:
                self._feed(message)
        except Exception as exc:  # the loop must survive anything one message does
            log.exception("main loop failed on %s", type(message).__name__)
            self._report(ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="main"))
            self._feed(InternalError())

    def _feed(self, event: MachineEvent) -> None:
        before = self.snapshot.state
        self.snapshot, effects = step(self.snapshot, event)
        for effect in effects:
            self._do(effect)
        if self.snapshot.state != before:
            self._status()

    def _do(self, effect: Effect) -> None:
        match effect:
            case Emit(event):
                self._emit(event)
            case StartListening(preroll, follow_up):
                wake = self.settings.wake
                timeout = wake.follow_up_seconds if follow_up else self.settings.endpoint.start_timeout
                self.listener.start(preroll=preroll, start_timeout=timeout)
            case EndRecording(reason):
                self._recorded(self.listener.finish(reason))
            case DiscardRecording(report):
                start, end = self.listener.discard()
                if report:
                    self.bus.emit(Recording(round(start, 3), round(end, 3), "cancelled", round(end - start, 3)))
            case PlayEarcon(earcon):
                self._earcon(_EARCONS[earcon])
            case StartTurn(turn, text):
                audio = self._utterance.audio if text is None and self._utterance is not None else None
                self._utterance = None
                self._runner = TurnRunner(
                    turn,
                    self._stages,
                    deadline_seconds=self.settings.assistant.deadline,
                    follow_up=self.settings.wake.follow_up,
                    clock=self.clock,
                )
                self._spawn(self._runner.start(audio, text))
            case CancelTurn(turn, reason):
                if self._runner is not None and self._runner.id == turn:
                    runner, self._runner = self._runner, None
                    runner.stop(reason)
                    self.bus.emit(Turn(turn, "cancelled", runner.spans_ms()))
            case FinishTurn(turn, outcome):
                if self._runner is not None and self._runner.id == turn:
                    self.bus.emit(Turn(turn, outcome, self._runner.spans_ms()))
                    self._runner = None
                self.turns_completed += 1
            case StartAnnouncement(job, text):
                self._announcement = Announcement(job, text, self._stages)
                self._spawn(self._announcement.start())
            case StopAnnouncement(job, reason):
                if self._announcement is not None and self._announcement.job == job:
                    self._announcement.stop(reason)
                    self._announcement = None
            case StartAlert(label, missed):
                self.bus.emit(Info("alert", f"{label} (missed)" if missed else label))
                if self.ports.alerts is not None:
                    self.ports.alerts.start(label, missed)
            case StopAlert(reason):
                if self.ports.alerts is not None:
                    self.ports.alerts.stop()
            case SetMute(muted):
                log.info("microphone %s", "muted" if muted else "on")
            case ResetConversation():
                self.reset_conversation()
            case Refuse(error):
                self._refusal = error
            case ReportMicError(message):
                self._report(ApplianceError(ErrorKind.AUDIO, message, stage="microphone"))
                self._exit_code = 1
            case Stop(reason):
                log.info("stopping: %s", reason)

    def _emit(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.machine.go(State(event.state))
        self.bus.emit(event)

    def _status(self) -> None:
        if self._on_status:
            self._on_status(f"{self.state.value}{' (muted)' if self.muted else ''}")

    # --- microphone ----------------------------------------------------------------------------------

    def _read_mic(self) -> None:
        error = ""
        try:
            for frame in self.ports.microphone.frames():
                self.inbox.put(_Frame(frame))
        except ApplianceError as exc:
            error = exc.message
        except Exception as exc:  # a dead microphone ends the process; systemd restarts it
            log.exception("microphone failed")
            error = f"{type(exc).__name__}: {exc}"
        self.inbox.put(MicEnded(error))

    def _on_frame(self, frame: np.ndarray) -> None:
        s = self.snapshot
        utterance = self.listener.process(frame, keep=not s.muted)
        if utterance is not None:
            self._recorded(utterance)
            return
        if s.muted or self.listener.recording or s.state == State.LISTENING:
            return  # nothing is analysed while muted; nor for the wake word while recording
        boost = 0.0
        if s.state != State.IDLE:  # thinking, speaking, alerting: our own sound plays
            if self.settings.wake.while_speaking == "ignore" and s.state != State.ALERTING:
                return
            boost = self.settings.wake.speaking_boost
        hit = self.ports.wake.process(frame, boost)
        if hit is not None:
            self._feed(WakeWord(hit.model, hit.score))

    def _recorded(self, utterance: Utterance) -> None:
        self.bus.emit(
            Recording(round(utterance.start, 3), round(utterance.end, 3), utterance.reason, round(utterance.seconds, 3))
        )
        self.ports.wake.reset()
        self._utterance = utterance if utterance.speech else None
        self._feed(RecordingEnded(utterance.speech))

    # --- commands ------------------------------------------------------------------------------------

    def _answer(self, command: _Command) -> None:
        try:
            reply = self._on_command(command.name, command.args)
        except Exception as exc:
            command.reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            raise
        command.reply(reply)

    def _on_command(self, name: str, args: tuple[str, ...]) -> dict[str, Any]:
        if name not in BY_NAME:
            return {"ok": False, "error": f"unknown command {name!r}"}
        text = " ".join(args).strip()
        if name == "status":
            return {
                "ok": True,
                "state": self.state.value,
                "muted": self.muted,
                "ready": self.ready,
                "turns": self.turns_completed,
                "volume": self.volume,
                "version": __version__,
            }
        if name == "reset":
            self.reset_conversation()
            return {"ok": True}
        if name == "press":
            self._feed(Press(PressKind.SHORT, "ctl"))
            return {"ok": True, "state": self.state.value}
        if name in ("mute", "unmute"):
            self._feed(SetMuted(name == "mute", "ctl"))
            return {"ok": True, "muted": self.muted}
        if not text:
            return {"ok": False, "error": "ask needs the question" if name == "ask" else "say needs the text"}
        if name == "say" and self.ports.speech is None:
            return {"ok": False, "error": "speech is not configured"}
        self._refusal = ""
        self._feed(Ask(text) if name == "ask" else Say(text))
        if self._refusal:
            return {"ok": False, "error": self._refusal}
        return {"ok": True, "turn": self.snapshot.turns} if name == "ask" else {"ok": True}

    # --- helpers -------------------------------------------------------------------------------------

    def _spawn(self, worker: threading.Thread) -> None:
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]

    def _report(self, exc: ApplianceError) -> None:
        secrets = self.settings.secrets
        log.error(
            "%s error%s: %s", exc.kind.value, f" in {exc.stage}" if exc.stage else "", secrets.redact(exc.message)
        )
        self.bus.emit(Error(exc.kind.value, exc.stage, secrets.redact(exc.message)))

    def _earcon(self, make: Callable[[], tuple[np.ndarray, int]], cancel: CancelToken | None = None) -> None:
        if not self.settings.audio.earcons:
            return
        pcm, rate = make()
        try:
            self.ports.speaker.play(apply_volume(pcm, self.volume), rate, cancel)
        except Exception as exc:
            log.warning("earcon failed: %s", exc)

    def _close(self) -> None:
        if self._runner is not None:
            self._do(CancelTurn(self._runner.id, "shutdown"))
        if self._announcement is not None:
            self._do(StopAnnouncement(self._announcement.job, "shutdown"))
        self.ports.microphone.close()
        deadline = time.monotonic() + 1.0
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for closer in [*self.ports.closers]:
            try:
                closer()
            except Exception:
                log.exception("closing failed")


class _ControlsView:
    """What tools may do (ports.Controls), backed by the app."""

    def __init__(self, app: App) -> None:
        self._app = app

    def volume(self) -> float:
        return self._app.get_volume()

    def set_volume(self, value: float) -> float:
        return self._app.set_volume(value)

    def stop_turn(self) -> None:
        self._app.stop_turn()

    def reset_conversation(self) -> None:
        self._app.reset_conversation()

    def camera_allowed(self) -> bool:
        return self._app.camera_allowed()
