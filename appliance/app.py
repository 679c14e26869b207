"""The appliance: one main loop that owns the state machine; everything else posts messages to it.

Threads: the microphone reader posts frames; the button, the control socket and signal handlers post
presses and commands; each turn's worker posts its progress. Only the main loop changes state, so the
state table in :mod:`appliance.machine` is the single authority. A turn's worker runs transcription, the
assistant and speech; a stop cancels its token, which closes its streams and playback at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .audio.convert import apply_volume
from .audio.earcons import chime, error_tone, mute_tone
from .cancel import CancelToken
from .errors import ApplianceError, Cancelled, ErrorKind
from .events import (
    Answer,
    Button,
    Error,
    EventBus,
    Info,
    Mute,
    Ready,
    Recording,
    StateChanged,
    Stopped,
    Transcript,
    Turn,
    Wake,
)
from .machine import State, StateMachine
from .ports import (
    FRAME_SECONDS,
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
from .wake.followup import expects_reply
from .wake.preroll import Preroll
from .wake.segmenter import Outcome, Segmenter

log = logging.getLogger(__name__)

# --- messages posted to the main loop -------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    pcm: np.ndarray


@dataclass(frozen=True)
class _MicEnded:
    error: str = ""


@dataclass(frozen=True)
class _Press:
    kind: str  # "short" | "long"
    source: str = "button"


@dataclass(frozen=True)
class _Command:
    name: str
    args: tuple[str, ...]
    reply: queue.Queue[dict[str, Any]]


@dataclass(frozen=True)
class _TurnProgress:
    turn: int
    what: str  # "speaking" | "thinking"


@dataclass(frozen=True)
class _TurnDone:
    turn: int
    outcome: str
    follow_up: bool = False


@dataclass(frozen=True)
class _Shutdown:
    reason: str


@dataclass
class _ActiveTurn:
    id: int
    cancel: CancelToken
    thread: threading.Thread | None = None
    timings: dict[str, float] = field(default_factory=dict)  # monotonic marks
    reported: bool = False


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


class App:
    def __init__(self, settings: Settings, ports: Ports, bus: EventBus | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_status: Callable[[str], None] | None = None,
                 on_tick: Callable[[], None] | None = None,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.ports = ports
        self.bus = bus or EventBus()
        self.clock = clock
        self.machine = StateMachine()
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.muted = False
        self.ready = False
        self.turns_completed = 0
        self.volume = settings.audio.volume
        self._on_status = on_status
        self._on_tick = on_tick
        self._on_ready = on_ready
        self._turn: _ActiveTurn | None = None
        self._turn_counter = 0
        self._workers: list[threading.Thread] = []
        self._segmenter = self._new_segmenter(settings.endpoint.start_timeout)
        self._preroll = Preroll(settings.wake.preroll_seconds)
        self._recording: list[np.ndarray] = []
        self._recording_start = 0.0  # seconds of mic audio at the first recorded sample
        self._mic_seconds = 0.0  # seconds of mic audio seen so far
        self._mic_ended = False
        self._stopping = False
        self._exit_code = 0
        self._mic_thread: threading.Thread | None = None

    # --- public API (thread-safe) -------------------------------------------------------------------

    def press(self, kind: str = "short", source: str = "button") -> None:
        """A button press from any thread ("short" or "long")."""
        self.inbox.put(_Press(kind, source))

    def shutdown(self, reason: str = "shutdown") -> None:
        self.inbox.put(_Shutdown(reason))

    def command(self, name: str, args: list[str] | tuple[str, ...] = (),
                timeout: float = 5.0) -> dict[str, Any]:
        """Run a control command in the main loop and return its reply (for the control socket)."""
        reply: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
        self.inbox.put(_Command(name, tuple(args), reply))
        try:
            return reply.get(timeout=timeout)
        except queue.Empty:
            return {"ok": False, "error": "the appliance did not answer in time"}

    @property
    def state(self) -> State:
        return self.machine.state

    # --- Controls for tools --------------------------------------------------------------------------

    def get_volume(self) -> float:
        return self.volume

    def set_volume(self, value: float) -> float:
        self.volume = round(max(0.0, min(1.0, value)), 2)
        self.bus.emit(Info("volume", f"{self.volume:.2f}"))
        return self.volume

    def stop_turn(self) -> None:
        self.inbox.put(_Press("short", "tool"))

    def reset_conversation(self) -> None:
        if self.ports.assistant is not None:
            self.ports.assistant.reset()
        self.bus.emit(Info("conversation_reset"))

    def camera_allowed(self) -> bool:
        return self.settings.camera.enabled and not self.muted and self.ports.camera is not None

    def tool_context(self, cancel: CancelToken, emit: Callable[[Any], None]) -> ToolContext:
        return ToolContext(controls=_ControlsView(self), camera=self.ports.camera,
                           indicators=self.ports.indicators, cancel=cancel, emit=emit, settings=self.settings)

    # --- main loop -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the microphone ends (WAV input) or shutdown. Returns the exit code."""
        self._mic_thread = threading.Thread(target=self._read_mic, name="microphone", daemon=True)
        self._mic_thread.start()
        self.ready = True
        self.bus.emit(Ready())
        self.bus.emit(StateChanged(State.IDLE.value, "", "start"))
        if self._on_ready:
            self._on_ready()
        self._status()
        try:
            while not self._stopping:
                try:
                    message = self.inbox.get(timeout=0.5)
                except queue.Empty:
                    message = None
                if self._on_tick:
                    self._on_tick()
                if message is not None:
                    self._handle(message)
                if self._mic_ended and self._turn is None and self.state in (State.IDLE, State.MUTED):
                    break
        finally:
            self._close()
        return self._exit_code

    def _handle(self, message: Any) -> None:
        try:
            if isinstance(message, _Frame):
                self._on_frame(message.pcm)
            elif isinstance(message, _TurnProgress):
                self._on_progress(message)
            elif isinstance(message, _TurnDone):
                self._on_turn_done(message)
            elif isinstance(message, _Press):
                self._on_press(message)
            elif isinstance(message, _Command):
                self._answer(message)
            elif isinstance(message, _MicEnded):
                self._on_mic_ended(message)
            elif isinstance(message, _Shutdown):
                log.info("stopping: %s", message.reason)
                self._stopping = True
                self.bus.emit(Stopped(message.reason))
        except Exception as exc:  # the main loop must survive anything one message does
            log.exception("main loop failed on %s", type(message).__name__)
            self._report(ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="main"))
            self._abort_turn("error", to=State.IDLE if not self.muted else State.MUTED)

    # --- state changes -------------------------------------------------------------------------------

    def _go(self, target: State, reason: str = "") -> None:
        if self.state == target:
            return
        previous = self.machine.go(target)
        self.bus.emit(StateChanged(target.value, previous.value, reason))
        self._status()

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
        self.inbox.put(_MicEnded(error))

    def _on_frame(self, frame: np.ndarray) -> None:
        self._mic_seconds += FRAME_SECONDS
        state = self.state
        if state == State.MUTED:
            return  # nothing is analysed or recorded while muted
        if state == State.LISTENING:
            self._record(frame)
            return
        self._preroll.push(frame)
        boost = 0.0
        if state in (State.THINKING, State.SPEAKING):
            if self.settings.wake.while_speaking == "ignore":
                return
            boost = self.settings.wake.speaking_boost
        hit = self.ports.wake.process(frame, boost)
        if hit is None:
            return
        self.bus.emit(Wake("wake_word", hit.model, round(float(hit.score), 4)))
        if state != State.IDLE:
            self._abort_turn("barge_in", to=None)
        self._start_listening("wake_word", preroll=True)

    def _on_mic_ended(self, message: _MicEnded) -> None:
        self._mic_ended = True
        if message.error:
            self._report(ApplianceError(ErrorKind.AUDIO, message.error, stage="microphone"))
            self._exit_code = 1
        if self.state == State.LISTENING:
            self._finish_recording(Outcome.SPEECH_ENDED if self._segmenter.started else Outcome.NO_SPEECH,
                                   "input_ended")

    # --- listening -----------------------------------------------------------------------------------

    def _new_segmenter(self, start_timeout: float) -> Segmenter:
        e = self.settings.endpoint
        return Segmenter(trailing_silence=e.trailing_silence, start_timeout=start_timeout,
                         max_seconds=e.max_seconds, min_speech_seconds=e.min_speech_seconds)

    def _start_listening(self, source: str, preroll: bool, follow_up: bool = False) -> None:
        if self._mic_ended:
            return
        self._go(State.LISTENING, source)
        timeout = self.settings.wake.follow_up_seconds if follow_up else self.settings.endpoint.start_timeout
        self._segmenter = self._new_segmenter(timeout)
        self.ports.vad.reset()
        frames = self._preroll.take() if preroll else []
        self._preroll.clear()
        self._recording = list(frames)
        self._recording_start = self._mic_seconds - len(frames) * FRAME_SECONDS
        if not follow_up:
            self._earcon(chime)

    def _record(self, frame: np.ndarray) -> None:
        self._recording.append(frame)
        probability = self.ports.vad.speech_probability(frame)
        outcome = self._segmenter.process(probability >= self.settings.endpoint.vad_threshold, FRAME_SECONDS)
        if outcome != Outcome.CONTINUE:
            self._finish_recording(outcome, outcome.value)

    def _finish_recording(self, outcome: Outcome, reason: str) -> None:
        audio = np.concatenate(self._recording) if self._recording else np.zeros(0, dtype=np.int16)
        self._recording = []
        start, end = self._recording_start, self._recording_start + len(audio) / 16000
        self.bus.emit(Recording(round(start, 3), round(end, 3), reason, round(len(audio) / 16000, 3)))
        self.ports.wake.reset()
        if outcome == Outcome.NO_SPEECH:
            self._turn_counter += 1
            self.bus.emit(Turn(self._turn_counter, "no_speech"))
            self._go(State.IDLE, "no_speech")
            return
        self._start_turn(audio)

    # --- turns ---------------------------------------------------------------------------------------

    def _start_turn(self, audio: np.ndarray | None, text: str | None = None) -> None:
        self._turn_counter += 1
        turn = _ActiveTurn(self._turn_counter, CancelToken())
        turn.timings["end_of_speech"] = self.clock()
        self._turn = turn
        self._go(State.THINKING, "endpoint" if text is None else "text")
        turn.thread = threading.Thread(target=self._run_turn, args=(turn, audio, text),
                                       name=f"turn-{turn.id}", daemon=True)
        self._workers = [w for w in self._workers if w.is_alive()] + [turn.thread]
        turn.thread.start()

    def _run_turn(self, turn: _ActiveTurn, audio: np.ndarray | None, text: str | None) -> None:
        """The turn's worker thread: transcribe → ask → speak. Never raises."""
        cancel = turn.cancel
        outcome, follow_up = "answered", False
        try:
            if text is None:
                if self.ports.transcriber is None:
                    raise ApplianceError(ErrorKind.CONFIG, "no transcriber configured", stage="stt")
                assert audio is not None
                text = self.ports.transcriber.transcribe(audio, cancel)
                cancel.check()
                turn.timings["transcript"] = self.clock()
                self.bus.emit(Transcript(text))
                if not text.strip():
                    outcome = "empty_transcript"
                    return
            else:
                turn.timings["transcript"] = self.clock()
                self.bus.emit(Transcript(text))
            if self.ports.assistant is None or self.ports.speech is None:
                raise ApplianceError(ErrorKind.CONFIG, "no assistant or speech configured", stage="assistant")
            sentences = self.ports.assistant.respond(text, cancel, self.bus.emit)
            result = self.ports.speech.speak(self._track_first(sentences, turn), cancel, self.bus.emit,
                                             on_first_audio=lambda: self._first_audio(turn))
            timings = getattr(self.ports.assistant, "last_timings", {}) or {}
            turn.timings.update({f"llm_{k}": v for k, v in timings.items()})
            if result.first_audio is not None:
                turn.timings["first_audio"] = result.first_audio
            if result.first_sentence is not None:
                turn.timings.setdefault("first_sentence", result.first_sentence)
            answer = " ".join(result.spoken + result.failed).strip()
            self.bus.emit(Answer(answer, interrupted=result.interrupted or cancel.cancelled))
            cancel.check()
            if result.failed and not result.spoken:
                self._earcon(error_tone, cancel)
            follow_up = self.settings.wake.follow_up and expects_reply(answer)
        except Cancelled:
            outcome = "cancelled"
        except ApplianceError as exc:
            if cancel.cancelled:
                outcome = "cancelled"
            else:
                outcome = "error"
                self._report(exc)
                self._spoken_fallback(turn, exc)
        except Exception as exc:
            if cancel.cancelled:
                outcome = "cancelled"
            else:
                log.exception("turn %d failed", turn.id)
                outcome = "error"
                error = ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="turn")
                self._report(error)
                self._spoken_fallback(turn, error)
        finally:
            turn.timings["done"] = self.clock()
            self.inbox.put(_TurnDone(turn.id, outcome, follow_up))

    def _track_first(self, sentences: Iterator[str], turn: _ActiveTurn) -> Iterator[str]:
        for sentence in sentences:
            turn.timings.setdefault("first_sentence", self.clock())
            yield sentence

    def _first_audio(self, turn: _ActiveTurn) -> None:
        turn.timings.setdefault("first_audio", self.clock())
        self.inbox.put(_TurnProgress(turn.id, "speaking"))

    def _spoken_fallback(self, turn: _ActiveTurn, exc: ApplianceError) -> None:
        """Say what went wrong with a locally available phrase (or an earcon); never raises."""
        if turn.cancel.cancelled:
            return
        offline = exc.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT)
        key = "offline" if offline else "error"
        self.inbox.put(_TurnProgress(turn.id, "speaking"))
        try:
            if self.ports.speech is not None:
                self.ports.speech.phrase(key, turn.cancel)
            else:
                self._earcon(error_tone, turn.cancel)
        except Exception:
            log.exception("could not play the %s phrase", key)
            self._earcon(error_tone, turn.cancel)

    def _on_progress(self, message: _TurnProgress) -> None:
        if self._turn is None or message.turn != self._turn.id:
            return  # a cancelled turn's late news
        if message.what == "speaking" and self.state == State.THINKING:
            self._go(State.SPEAKING, "first_audio")

    def _on_turn_done(self, message: _TurnDone) -> None:
        if self._turn is None or message.turn != self._turn.id:
            return
        turn, self._turn = self._turn, None
        self._emit_turn(turn, message.outcome)
        self.turns_completed += 1
        if self.muted:
            return
        if message.follow_up and not self._mic_ended and message.outcome == "answered":
            self.bus.emit(Info("follow_up"))
            self._start_listening("follow_up", preroll=False, follow_up=True)
        else:
            self._go(State.IDLE, message.outcome)

    def _emit_turn(self, turn: _ActiveTurn, outcome: str) -> None:
        if turn.reported:
            return
        turn.reported = True
        t = turn.timings
        ms: dict[str, float] = {}

        def span(name: str, a: str, b: str) -> None:
            if a in t and b in t:
                ms[name] = (t[b] - t[a]) * 1000

        span("stt_ms", "end_of_speech", "transcript")
        span("transcript_to_first_delta_ms", "transcript", "llm_first_delta")
        span("request_to_first_delta_ms", "llm_request_start", "llm_first_delta")
        span("request_to_first_sentence_ms", "llm_request_start", "llm_first_sentence")
        span("first_sentence_to_first_audio_ms", "first_sentence", "first_audio")
        span("end_of_speech_to_first_audio_ms", "end_of_speech", "first_audio")
        span("total_ms", "end_of_speech", "done")
        self.bus.emit(Turn(turn.id, outcome, ms))

    def _abort_turn(self, reason: str, to: State | None = State.IDLE) -> None:
        """Cancel the turn in progress (streams, tools, playback) and move on without waiting for it."""
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.cancel.cancel(reason)
            turn.timings["done"] = self.clock()
            self._emit_turn(turn, "cancelled")
        if self.state == State.LISTENING:
            self._recording = []
        if to is not None:
            self._go(to, reason)

    # --- button and commands -------------------------------------------------------------------------

    def _on_press(self, press: _Press) -> None:
        self.bus.emit(Button(press.kind))
        if press.kind == "long":
            self._set_muted(not self.muted, press.source)
            return
        state = self.state
        if state == State.MUTED:
            self.bus.emit(Info("muted", "the microphone is muted: hold the button to unmute"))
        elif state == State.IDLE:
            self._start_listening(press.source, preroll=True)
        else:  # listening, thinking, speaking: stop everything
            self._abort_turn("stop" if press.source != "button" else "button")
            if state == State.LISTENING:
                self.bus.emit(Recording(round(self._recording_start, 3), round(self._mic_seconds, 3),
                                        "cancelled", round(self._mic_seconds - self._recording_start, 3)))

    def _set_muted(self, muted: bool, source: str = "button") -> None:
        if muted == self.muted:
            return
        if muted:
            self._abort_turn("mute", to=None)
            self.muted = True
            self._go(State.MUTED, source)
            # muting is a privacy gesture: the conversation is forgotten too
            self.reset_conversation()
        else:
            self.muted = False
            self._go(State.IDLE, source)
        self.bus.emit(Mute(self.muted))
        self._earcon(lambda: mute_tone(muted))

    def _answer(self, command: _Command) -> None:
        try:
            reply = self._on_command(command.name, command.args)
        except Exception as exc:
            command.reply.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            raise
        command.reply.put(reply)

    def _on_command(self, name: str, args: tuple[str, ...]) -> dict[str, Any]:
        if name == "status":
            return {"ok": True, "state": self.state.value, "muted": self.muted, "ready": self.ready,
                    "turns": self.turns_completed, "volume": self.volume, "version": __version__}
        if name == "press":
            self._on_press(_Press("short", "ctl"))
            return {"ok": True, "state": self.state.value}
        if name in ("mute", "unmute"):
            self._set_muted(name == "mute", "ctl")
            return {"ok": True, "muted": self.muted}
        if name == "reset":
            self.reset_conversation()
            return {"ok": True}
        if name == "ask":
            text = " ".join(args).strip()
            if not text:
                return {"ok": False, "error": "ask needs the question"}
            if self.state not in (State.IDLE,):
                return {"ok": False, "error": f"busy ({self.state.value})"}
            self._start_turn(None, text=text)
            return {"ok": True, "turn": self._turn_counter}
        if name == "say":
            text = " ".join(args).strip()
            if not text:
                return {"ok": False, "error": "say needs the text"}
            if self.ports.speech is None:
                return {"ok": False, "error": "speech is not configured"}
            self._announce(text)
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {name!r}"}

    def _announce(self, text: str) -> None:
        """Speak ``text`` now (ctl say), without a turn; it does not wait."""
        cancel = CancelToken()
        speech = self.ports.speech
        assert speech is not None

        def run() -> None:
            try:
                speech.speak(iter([text]), cancel, self.bus.emit)
            except Exception as exc:
                self._report(ApplianceError(ErrorKind.TTS, f"announcement failed: {exc}", stage="say"))

        worker = threading.Thread(target=run, name="announce", daemon=True)
        self._workers.append(worker)
        worker.start()

    # --- helpers -------------------------------------------------------------------------------------

    def _report(self, exc: ApplianceError) -> None:
        log.error("%s error%s: %s", exc.kind.value, f" in {exc.stage}" if exc.stage else "",
                  self.settings.secrets.redact(exc.message))
        self.bus.emit(Error(exc.kind.value, exc.stage, self.settings.secrets.redact(exc.message)))

    def _earcon(self, make: Callable[[], tuple[np.ndarray, int]], cancel: CancelToken | None = None) -> None:
        if not self.settings.audio.earcons:
            return
        pcm, rate = make()
        try:
            self.ports.speaker.play(apply_volume(pcm, self.volume), rate, cancel)
        except Exception as exc:
            log.warning("earcon failed: %s", exc)

    def _close(self) -> None:
        self._abort_turn("shutdown", to=None)
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
