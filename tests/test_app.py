"""The app's state flow: wake, listening, thinking, speaking, stop, mute, errors, follow-ups, commands.

The microphone, speaker and LEDs are the real simulated adapters (WAV files, gpiozero's mock pins); the
wake word and VAD are simple signal-based implementations of their ports (a 3 kHz "wake tone", energy
for speech), and the cloud stages are small in-test implementations of their ports, so each case controls
exactly when things happen. The real models and SDKs are exercised end to end elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from appliance.audio.wavfile import WavMicrophone, WavSpeaker, write_wav
from appliance.cancel import CancelToken
from appliance.config.settings import Settings
from appliance.core.app import App, Ports
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import (
    Answer,
    Error,
    EventBus,
    Info,
    Mute,
    Recorder,
    Recording,
    Sentence,
    StateChanged,
    Transcript,
    Turn,
    Wake,
)
from appliance.frontend.base import PassThroughFrontEnd
from appliance.frontend.microphone import FrontEndMicrophone
from appliance.frontend.reference import ReferenceBuffer, ReferenceSpeaker
from appliance.gpio.leds import Leds
from appliance.ports import FRAME_SECONDS, SpeechResult, WakeHit
from appliance.text.piece import Piece
from appliance.timings import TurnTimings

RATE = 16000


def tone(freq: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


WAKE = 3000.0  # the wake "word"
SPEECH = 300.0  # a "question"


class ToneWake:
    """Wakes when a 3 kHz tone ends (as a wake-word model fires at the end of the word); counts what it
    was asked to analyse."""

    def __init__(self) -> None:
        self.frames = 0
        self.boosts: list[float] = []
        self.in_tone = False

    def process(self, frame: np.ndarray, threshold_boost: float = 0.0) -> WakeHit | None:
        self.frames += 1
        self.boosts.append(threshold_boost)
        was, self.in_tone = self.in_tone, self._is_tone(frame)
        return WakeHit("tone", 0.97) if was and not self.in_tone else None

    @staticmethod
    def _is_tone(frame: np.ndarray) -> bool:
        if np.abs(frame).max() < 1000:
            return False
        spectrum = np.abs(np.fft.rfft(frame))
        return abs(np.fft.rfftfreq(len(frame), 1 / RATE)[int(np.argmax(spectrum))] - WAKE) < 100

    def reset(self) -> None:
        self.in_tone = False


class EnergyVad:
    def speech_probability(self, frame: np.ndarray) -> float:
        return 1.0 if np.sqrt(np.mean(frame.astype(np.float64) ** 2)) > 500 else 0.0

    def reset(self) -> None:
        pass


class Transcriber:
    def __init__(self, text: str = "what time is it", error: Exception | None = None) -> None:
        self.text = text
        self.error = error
        self.calls: list[np.ndarray] = []

    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> str:
        self.calls.append(pcm)
        if self.error:
            raise self.error
        return self.text


class Assistant:
    def __init__(self, sentences: list[str], delay: float = 0.0) -> None:
        self.sentences = sentences
        self.delay = delay
        self.resets = 0
        self.questions: list[str] = []
        self.remembered: list[tuple[str, str]] = []

    def respond(
        self,
        text: str,
        cancel: CancelToken,
        emit,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
        fragments: bool = False,
        filler=None,
    ) -> Iterator[Piece]:
        """Marks the turn's timings as the real assistant does (``llm_request_start``, ``llm_first_delta``)."""
        self.questions.append(text)
        if timings is not None:
            timings.mark("llm_request_start")
        for sentence in self.sentences:
            if cancel.wait(self.delay):
                return
            if timings is not None and "llm_first_delta" not in timings:
                timings.mark("llm_first_delta")
            yield Piece.whole(sentence)

    def reset(self) -> None:
        self.resets += 1

    def remember(self, question: str, answer: str) -> None:
        self.remembered.append((question, answer))

    def pending_confirmation(self) -> str | None:
        return None

    def settle_confirmation(self, yes: bool) -> None:
        pass


class Speech:
    """Speaks each sentence as a 0.4 s tone per sentence on the real WAV speaker."""

    wants_fragments = False

    def __init__(self, speaker: WavSpeaker, seconds: float = 0.4) -> None:
        self.speaker = speaker
        self.seconds = seconds
        self.phrases: list[str] = []
        self.cancelled_at: float | None = None

    def speak(self, pieces, cancel, emit, on_first_audio=None, *, deadline=None, timings=None) -> SpeechResult:
        result = SpeechResult()
        for sentence in (piece.text for piece in pieces):
            emit(Sentence(sentence))
            if result.first_audio is None:
                result.first_audio = time.monotonic()
                if on_first_audio:
                    on_first_audio()
            if not self.speaker.play(tone(500, self.seconds, 0.2), RATE, cancel):
                self.cancelled_at = time.monotonic()
                result.interrupted = True
                return result
            result.spoken.append(sentence)
        return result

    def phrase(self, key: str, cancel=None) -> None:
        self.phrases.append(key)


#: A hold before the end of the input (the app ends when its input does and it is at rest).
END = float("inf")
#: How long a hold waits for what it waits for before the test fails.
HOLD_TIMEOUT = 20.0


class HeldMicrophone:
    """The real WAV microphone, unpaced: its frames come as fast as the app takes them, except where the test
    holds them. Before the frame at each held second of audio (and, for :data:`END`, before the input ends)
    it waits for what the hold waits for (a state, a turn's end, the test's go), so each case is driven by
    what the app does, not by the wall clock. A hold that times out fails the test (see ``Harness.finish``).
    """

    def __init__(self, path, holds: dict[float, Callable[[], None]]) -> None:
        self.wav = WavMicrophone(path, pace=0)
        self.holds = sorted(holds.items())
        self.failures: list[str] = []
        self.closed = threading.Event()

    def _hold(self, wait: Callable[[], None]) -> None:
        if self.closed.is_set():
            return
        try:
            wait()
        except TimeoutError as exc:
            self.failures.append(str(exc))

    def frames(self) -> Iterator[np.ndarray]:
        holds = list(self.holds)
        for index, frame in enumerate(self.wav.frames()):
            while holds and holds[0][0] <= index * FRAME_SECONDS + 1e-9:
                self._hold(holds.pop(0)[1])
            yield frame
        for _, wait in holds:
            self._hold(wait)

    def close(self) -> None:
        self.closed.set()
        self.wav.close()


class Harness:
    def __init__(
        self,
        tmp_path,
        audio: np.ndarray,
        *,
        sentences=("It is noon.",),
        transcriber=None,
        speech_seconds=0.4,
        pace: float | None = None,
        holds: dict[float, Callable[[Harness], None]] | None = None,
        settings: Settings | None = None,
        assistant_delay=0.0,
        barge_in=None,
    ):
        """``pace`` None: the microphone is held (``holds``: seconds of audio -> what to wait for there),
        else paced against the wall clock. The speaker plays at twice real time."""
        path = tmp_path / "mic.wav"
        write_wav(path, audio, RATE)
        self.settings = settings or Settings()
        self.settings.endpoint.trailing_silence = 0.4
        self.settings.wake.follow_up = False
        self._go = threading.Event()
        self.held = (
            None if pace is not None else HeldMicrophone(path, {at: _bind(w, self) for at, w in (holds or {}).items()})
        )
        self.mic = self.held or WavMicrophone(path, pace=pace or 0)
        self.speaker = WavSpeaker(tmp_path / "out.wav", rate=RATE, pace=2.0)
        microphone, speaker = self.mic, self.speaker
        if barge_in is not None:  # as the wiring does with the front end on (here the pass-through one)
            buffer = ReferenceBuffer()
            microphone = FrontEndMicrophone(self.mic, PassThroughFrontEnd(buffer))
            speaker = ReferenceSpeaker(self.speaker, buffer)
        self.wake = ToneWake()
        self.transcriber = transcriber or Transcriber()
        self.assistant = Assistant(list(sentences), delay=assistant_delay)
        self.speech = Speech(speaker, speech_seconds)
        self.leds = Leds(self.settings.gpio)
        self.bus = EventBus()
        self.events = Recorder()
        self.bus.subscribe(self.events)
        self.bus.subscribe(self.leds.on_event)
        ports = Ports(
            microphone,
            speaker,
            self.wake,
            EnergyVad(),
            self.transcriber,
            self.assistant,
            self.speech,
            indicators=self.leds,
            closers=[self.speaker.close, self.leds.close],
            echo_cancelled=barge_in is not None,
            barge_in=barge_in,
        )
        self.app = App(self.settings, ports, self.bus)
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.app.run()

    def start(self) -> Harness:
        self.thread.start()
        return self

    def wait_state(self, state: str, timeout: float = 10.0, after: int = 0):
        return self.events.wait_for(
            lambda e: isinstance(e, StateChanged) and e.state == state and self.events.events.index(e) >= after, timeout
        )

    def finish(self, timeout: float = 20.0) -> int:
        self.go()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the app did not finish; states {self.events.states()}"
        assert self.held is None or self.held.failures == []
        assert self.code is not None
        return self.code

    # --- what a held microphone waits for ---

    def go(self) -> None:
        """Lets a microphone held on :func:`until_go` go on."""
        self._go.set()

    def until_go(self) -> None:
        if not self._go.wait(HOLD_TIMEOUT):
            raise TimeoutError("the test never let the microphone go on")

    def until_state(self, state: str, count: int = 1) -> None:
        """Until the app has entered ``state`` ``count`` times."""
        seen = [0]

        def nth(e) -> bool:
            if isinstance(e, StateChanged) and e.state == state:
                seen[0] += 1
            return seen[0] >= count

        self.events.wait_for(nth, HOLD_TIMEOUT)

    def until_turn_over(self, count: int = 1) -> None:
        """Until ``count`` turns have ended and the app has left the last one's state."""
        turns = [0]

        def nth(e) -> bool:
            turns[0] += isinstance(e, Turn)
            return turns[0] >= count and isinstance(e, StateChanged)

        self.events.wait_for(nth, HOLD_TIMEOUT)


def _bind(wait: Callable[[Harness], None], h: Harness) -> Callable[[], None]:
    return lambda: wait(h)


def until_turn_over(count: int = 1) -> Callable[[Harness], None]:
    return lambda h: h.until_turn_over(count)


def until_state(state: str, count: int = 1) -> Callable[[Harness], None]:
    return lambda h: h.until_state(state, count)


def until_go(h: Harness) -> None:
    h.until_go()


def until_heard(h: Harness) -> None:
    """Until the app speaks and the speaker has played a tenth of a second of the answer (so the reference
    holds it: the state changes before the first audio is out, and a loaded machine may take a while to get
    there). The wake chime was played whole before the state changed, so it does not count."""
    h.until_state("speaking")
    deadline = time.monotonic() + HOLD_TIMEOUT
    before = h.speaker.samples_written  # the chime's, and perhaps some of the answer's
    while h.speaker.samples_written < before + RATE // 10:
        if time.monotonic() > deadline or h.events.states()[-1] != "speaking":
            raise TimeoutError(f"nothing was played while speaking: {h.events.states()}")
        threading.Event().wait(0.005)


@pytest.fixture(autouse=True)
def _pins(mock_pins):
    yield


def question(pre=0.5, wake=0.3, gap=0.2, speech=0.8, post=1.5):
    return np.concatenate([quiet(pre), tone(WAKE, wake), quiet(gap), tone(SPEECH, speech), quiet(post)])


def test_a_whole_turn(tmp_path):
    h = Harness(tmp_path, question(), sentences=["It is noon.", "Have a nice day."], holds={END: until_turn_over()})
    h.start()
    assert h.finish() == 0
    assert h.events.states() == ["idle", "listening", "thinking", "speaking", "idle"]
    wake = h.events.of(Wake)[0]
    assert wake.source == "wake_word" and wake.score == pytest.approx(0.97)
    recording = h.events.of(Recording)[0]
    assert recording.reason == "speech_ended"
    # the recording starts before the question (pre-roll) and ends after it
    assert recording.start < 1.0 < 1.8 < recording.end < 1.8 + 0.4 + 0.5
    assert h.events.of(Transcript)[0].text == "what time is it"
    assert [s.text for s in h.events.of(Sentence)] == ["It is noon.", "Have a nice day."]
    assert h.events.of(Answer)[0].text == "It is noon. Have a nice day."
    turn = h.events.of(Turn)[0]
    assert turn.outcome == "answered"
    for key in ("stt_ms", "first_sentence_to_first_audio_ms", "end_of_speech_to_first_audio_ms", "total_ms"):
        assert key in turn.timings and turn.timings[key] >= 0
    # the recorded audio handed to transcription holds the question
    pcm = h.transcriber.calls[0]
    assert np.abs(pcm).max() > 5000 and len(pcm) / RATE == pytest.approx(recording.seconds, abs=0.01)


def test_button_press_talks_without_the_wake_word(tmp_path):
    audio = np.concatenate([quiet(1.0), tone(SPEECH, 0.8), quiet(1.5)])
    h = Harness(tmp_path, audio, holds={1.0: until_state("listening"), END: until_turn_over()}).start()
    h.wait_state("idle")
    h.app.press("short")
    h.wait_state("listening")
    assert h.finish() == 0
    assert h.events.of(Wake) == []
    assert h.events.states() == ["idle", "listening", "thinking", "speaking", "idle"]


def test_short_press_while_speaking_stops_everything_within_200ms(tmp_path):
    sentences = ["One.", "Two.", "Three.", "Four."]
    h = Harness(tmp_path, question(post=4.0), sentences=sentences, speech_seconds=1.0, holds={END: until_turn_over()})
    h.start()
    h.wait_state("speaking")
    pressed = time.monotonic()
    h.app.press("short")
    h.wait_state("idle", after=1)
    assert h.finish() == 0
    assert h.speech.cancelled_at is not None and h.speech.cancelled_at - pressed < 0.2
    assert h.events.of(Turn)[0].outcome == "cancelled"
    assert h.events.of(Answer)[0].interrupted
    assert h.events.states()[-1] == "idle"


def test_long_press_mutes_nothing_is_analysed_and_conversation_forgotten(tmp_path):
    audio = np.concatenate([quiet(0.6), quiet(1.2), tone(WAKE, 0.3), quiet(1.0)])
    h = Harness(tmp_path, audio, holds={0.6: until_go}).start()
    h.wait_state("idle")
    h.app.press("long")
    h.wait_state("muted")
    analysed = h.wake.frames
    h.go()
    assert h.finish() == 0
    assert h.wake.frames == analysed  # the wake tone played while muted was never analysed
    assert h.events.of(Wake) == []
    assert h.events.of(Mute)[0].muted is True
    assert h.assistant.resets == 1
    assert h.leds.shown == "muted"


def test_unmute_returns_to_idle(tmp_path):
    h = Harness(tmp_path, quiet(3.0), holds={END: until_go}).start()
    h.wait_state("idle")
    h.app.press("long")
    h.wait_state("muted")
    h.app.press("short")  # a short press while muted does nothing but say how to unmute
    h.app.press("long")
    h.wait_state("idle", after=2)
    assert h.finish() == 0
    assert [m.muted for m in h.events.of(Mute)] == [True, False]
    assert any(i.what == "muted" for i in h.events.of(Info))


def test_no_speech_ends_quietly_without_a_cloud_request(tmp_path):
    settings = Settings()
    settings.endpoint.start_timeout = 1.0
    audio = np.concatenate([quiet(0.5), tone(WAKE, 0.3), quiet(2.0)])
    h = Harness(tmp_path, audio, settings=settings).start()
    assert h.finish() == 0
    assert h.events.of(Recording)[0].reason == "no_speech"
    assert h.events.of(Turn)[0].outcome == "no_speech"
    assert h.transcriber.calls == []
    assert h.events.states() == ["idle", "listening", "idle"]


def test_an_exception_in_a_stage_ends_the_turn_with_an_error_and_the_app_lives_on(tmp_path):
    audio = np.concatenate([question(post=1.0), question(post=1.5)])
    holds = {2.8: until_turn_over(1), END: until_turn_over(2)}  # the second question comes after the first turn
    h = Harness(tmp_path, audio, transcriber=Transcriber(error=RuntimeError("boom")), holds=holds).start()
    assert h.finish() == 0
    errors = h.events.of(Error)
    assert [e.kind for e in errors] == ["internal", "internal"]
    assert "boom" in errors[0].message
    assert h.speech.phrases == ["error", "error"]
    assert [t.outcome for t in h.events.of(Turn)] == ["error", "error"]
    assert h.events.states()[-1] == "idle"


def test_a_cloud_error_speaks_the_offline_phrase(tmp_path):
    error = ApplianceError(ErrorKind.CONNECTION, "no route to host", stage="stt")
    h = Harness(tmp_path, question(), transcriber=Transcriber(error=error), holds={END: until_turn_over()}).start()
    assert h.finish() == 0
    assert h.events.of(Error)[0].kind == "connection"
    assert h.speech.phrases == ["offline"]
    assert h.events.states() == ["idle", "listening", "thinking", "speaking", "idle"]


def test_empty_transcript_goes_back_to_idle_without_asking(tmp_path):
    h = Harness(tmp_path, question(), transcriber=Transcriber(text="  "), holds={END: until_turn_over()}).start()
    assert h.finish() == 0
    assert h.assistant.questions == []
    assert h.events.of(Turn)[0].outcome == "empty_transcript"
    assert h.events.states() == ["idle", "listening", "thinking", "idle"]


def test_follow_up_listens_again_without_the_wake_word(tmp_path):
    settings = Settings()
    settings.wake.follow_up_seconds = 1.0
    audio = np.concatenate([question(post=1.3), tone(SPEECH, 0.6), quiet(1.5)])
    # the follow-up question (at 3.1 s) comes once the appliance listens again
    holds = {3.1: until_state("listening", 2), END: until_turn_over(2)}
    h = Harness(tmp_path, audio, sentences=["Which city do you mean?"], settings=settings, holds=holds)
    h.settings.wake.follow_up = True
    h.start()
    assert h.finish() == 0
    assert h.events.states()[:6] == ["idle", "listening", "thinking", "speaking", "listening", "thinking"]
    assert len(h.events.of(Wake)) == 1
    assert any(i.what == "follow_up" for i in h.events.of(Info))


def test_wake_word_while_speaking_barges_in_with_a_higher_threshold(tmp_path):
    audio = np.concatenate([question(post=1.0), tone(WAKE, 0.3), quiet(0.2), tone(SPEECH, 0.6), quiet(2.0)])
    holds = {2.8: until_state("speaking"), END: until_turn_over(2)}  # the second wake word comes over the answer
    h = Harness(tmp_path, audio, sentences=["A long answer."] * 6, speech_seconds=0.5, holds=holds).start()
    assert h.finish() == 0
    assert len(h.events.of(Wake)) == 2
    assert h.settings.wake.speaking_boost in h.wake.boosts  # analysed with the boost while speaking
    turns = h.events.of(Turn)
    assert turns[0].outcome == "cancelled" and turns[-1].outcome == "answered"


class RawToneBargeIn:
    """ports.BargeIn that wakes on the raw microphone's wake tone, and notes what the app hands it and when."""

    def __init__(self) -> None:
        self.raw = ToneWake()
        self.app: App | None = None
        self.states: list[str] = []
        self.reference_peaks: list[int] = []
        self.pauses = 0

    def process(self, raw: np.ndarray, reference: np.ndarray, front_end_hit: WakeHit | None = None) -> WakeHit | None:
        assert self.app is not None
        self.states.append(self.app.state.value)
        self.reference_peaks.append(int(np.abs(reference).max()))
        hit = self.raw.process(raw)
        return WakeHit("raw", hit.score) if hit else front_end_hit

    def pause(self) -> None:
        self.pauses += 1


def test_over_its_own_sound_the_raw_microphone_and_the_reference_go_to_the_barge_in(tmp_path):
    audio = np.concatenate([question(post=1.0), tone(WAKE, 0.3), quiet(0.2), tone(SPEECH, 0.6), quiet(2.0)])
    barge_in = RawToneBargeIn()
    holds = {2.8: until_heard, END: until_turn_over(2)}
    h = Harness(tmp_path, audio, sentences=["A long answer."] * 6, speech_seconds=0.5, barge_in=barge_in, holds=holds)
    barge_in.app = h.app
    h.start()
    assert h.finish() == 0
    wakes = h.events.of(Wake)
    assert [w.model for w in wakes] == ["tone", "raw"]  # the first in idle; over the answer, the barge-in's
    assert h.events.of(Turn)[0].outcome == "cancelled"
    assert set(barge_in.states) <= {"thinking", "speaking"}  # only over its own sound
    assert max(barge_in.reference_peaks) > 3000  # with what the speaker played as the reference
    assert barge_in.pauses > 0  # and told when that stopped
    assert h.wake.boosts and set(h.wake.boosts) == {0.0}  # echo cancelled: no boost on the front end's frames


def test_wake_word_ignored_while_speaking_when_configured(tmp_path):
    settings = Settings()
    settings.wake.while_speaking = "ignore"
    audio = np.concatenate([question(post=0.8), tone(WAKE, 0.3), quiet(3.0)])
    holds = {2.6: until_state("speaking"), END: until_turn_over()}
    h = Harness(tmp_path, audio, sentences=["A long answer."] * 4, speech_seconds=0.5, settings=settings, holds=holds)
    h.start()
    assert h.finish() == 0
    assert len(h.events.of(Wake)) == 1
    assert h.events.of(Turn)[0].outcome == "answered"


def test_input_ending_mid_question_still_sends_it(tmp_path):
    audio = np.concatenate([quiet(0.5), tone(WAKE, 0.3), quiet(0.2), tone(SPEECH, 1.0)])
    h = Harness(tmp_path, audio).start()
    assert h.finish() == 0
    assert h.events.of(Recording)[0].reason == "input_ended"
    assert h.events.of(Turn)[0].outcome == "answered"


def test_control_commands(tmp_path):
    h = Harness(tmp_path, quiet(4.0), sentences=["Hello there."], holds={END: until_go}).start()
    h.wait_state("idle")
    status = h.app.command("status")
    assert status["ok"] and status["state"] == "idle" and status["muted"] is False and status["ready"]
    assert h.app.command("ask", ["hello"])["ok"]
    h.wait_state("speaking")
    assert h.assistant.questions == ["hello"]
    assert h.app.command("ask", ["again"])["ok"] is False  # busy
    assert h.app.command("mute")["muted"] is True
    assert h.app.command("status")["state"] == "muted"
    assert h.app.command("unmute")["muted"] is False
    assert h.app.command("bogus")["ok"] is False
    assert h.finish() == 0


def test_tool_controls(tmp_path):
    h = Harness(tmp_path, quiet(1.0))
    ctx = h.app.tool_context(CancelToken(), h.bus.emit)
    assert ctx.controls.set_volume(1.7) == 1.0
    assert ctx.controls.volume() == 1.0
    assert ctx.controls.camera_allowed() is False  # no camera attached
    h.start()
    assert h.finish() == 0


def test_leds_follow_the_states(tmp_path):
    seen = []
    h = Harness(tmp_path, question(), holds={END: until_turn_over()})
    h.bus.subscribe(lambda e: isinstance(e, StateChanged) and seen.append(h.leds.shown))
    h.start()
    assert h.finish() == 0
    assert seen == ["idle", "listening", "thinking", "speaking", "idle"]


# --- the loop's inbox, tool rounds, the deadline, announcements, timers ---------------------------------


def test_the_inbox_hands_out_control_messages_before_queued_audio():
    from appliance.core.inbox import Frame, Inbox
    from appliance.core.machine import MicEnded, Press

    inbox = Inbox()
    for _ in range(25):  # 2 s of audio waiting
        inbox.put(Frame(quiet(0.08)))
    inbox.put(Press())
    inbox.put(MicEnded(), audio=True)  # the end of the input stays behind the frames it follows
    assert inbox.get(0.1) == Press()
    assert [type(inbox.get(0.1)) for _ in range(26)] == [Frame] * 25 + [MicEnded]
    assert inbox.get(0.01) is None


class ToolAssistant(Assistant):
    """Says a filler, runs a "tool" through the app's tool context (as the real assistant does), answers."""

    def __init__(self, app_box: list) -> None:
        super().__init__(["Let me look.", "It is sunny."])
        self.app_box = app_box

    def respond(self, text, cancel, emit, *, deadline=None, timings=None, fragments=False, filler=None):
        self.questions.append(text)
        yield Piece.whole("Let me look.")
        self.app_box[0].tool_context(CancelToken(), emit)  # the tool starts after the filler was spoken
        cancel.wait(0.3)
        yield Piece.whole("It is sunny.")


def test_a_tool_round_after_a_spoken_filler_shows_thinking_again(tmp_path):
    h = Harness(tmp_path, question(post=2.5), holds={END: until_turn_over()})
    box = [h.app]
    h.app.ports.assistant = ToolAssistant(box)
    h.start()
    assert h.finish() == 0
    assert h.events.states() == ["idle", "listening", "thinking", "speaking", "thinking", "speaking", "idle"]
    assert [e.reason for e in h.events.of(StateChanged)][4] == "tool_round"
    assert h.events.of(Answer)[0].text == "Let me look. It is sunny."


class StuckTranscriber(Transcriber):
    """Ignores the deadline it is not told about and waits until cancelled."""

    def transcribe(self, pcm, cancel, *, deadline=None, timings=None):
        self.calls.append(pcm)
        cancel.wait(30)
        cancel.check()
        return "too late"


def test_when_the_deadline_is_spent_the_error_is_spoken_and_the_appliance_goes_idle(tmp_path):
    settings = Settings()
    settings.assistant.deadline = 1.0
    h = Harness(
        tmp_path, question(post=3.5), settings=settings, transcriber=StuckTranscriber(), holds={END: until_turn_over()}
    )
    h.start()
    assert h.finish() == 0
    assert h.events.of(Error)[0].kind == "timeout"
    assert h.speech.phrases == ["offline"]
    assert h.events.of(Turn)[0].outcome == "error"
    assert h.events.states() == ["idle", "listening", "thinking", "speaking", "idle"]


class DeadlineTranscriber(Transcriber):
    def __init__(self) -> None:
        super().__init__()
        self.given: dict = {}

    def transcribe(self, pcm, cancel, *, deadline=None, timings=None):
        self.given = {"deadline": deadline, "timings": timings}
        timings.mark("stt_request_start")
        return self.text


def test_the_turn_passes_its_deadline_and_timings_to_stages_that_accept_them(tmp_path):
    transcriber = DeadlineTranscriber()
    h = Harness(tmp_path, question(), transcriber=transcriber, holds={END: until_turn_over()}).start()
    assert h.finish() == 0
    assert isinstance(transcriber.given["deadline"], Deadline)
    assert transcriber.given["deadline"].seconds == h.settings.assistant.deadline
    assert isinstance(transcriber.given["timings"], TurnTimings)
    assert "stt_request_start" in transcriber.given["timings"]
    # the assistant double takes the timings only (the turn passes what a stage accepts) and marks them
    assert "transcript_to_first_delta_ms" in h.events.of(Turn)[0].timings


def wait_until(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def test_announcements_stop_on_the_button_and_a_second_one_is_refused(tmp_path):
    h = Harness(tmp_path, quiet(4.0), sentences=["x"], speech_seconds=3.0, holds={END: until_go}).start()
    h.wait_state("idle")
    assert h.app.command("say", ["dinner is ready"]) == {"ok": True}
    h.events.wait_for(lambda e: isinstance(e, Sentence) and e.text == "dinner is ready", 5)
    assert h.app.command("say", ["again"]) == {"ok": False, "error": "busy (announcing)"}
    pressed = time.monotonic()
    h.app.press("short")
    wait_until(lambda: h.speech.cancelled_at is not None)
    assert h.speech.cancelled_at - pressed < 0.2
    assert h.events.states() == ["idle"]  # the press only stopped it
    wait_until(lambda: h.app.command("say", ["again"])["ok"])  # once it is done, the next one plays
    assert h.app.command("say", [])["ok"] is False
    assert h.finish() == 0


def test_announcements_never_overlap_a_turn_and_a_new_turn_or_mute_stops_them(tmp_path):
    h = Harness(tmp_path, quiet(5.0), sentences=["Hello there."], speech_seconds=2.0, holds={END: until_go}).start()
    h.wait_state("idle")
    assert h.app.command("say", ["one"])["ok"]
    h.events.wait_for(lambda e: isinstance(e, Sentence) and e.text == "one", 5)
    assert h.app.command("ask", ["hello"])["ok"]  # a new turn stops the announcement
    wait_until(lambda: h.speech.cancelled_at is not None)
    refused = h.app.command("say", ["two"])
    assert refused["ok"] is False and refused["error"] in ("busy (thinking)", "busy (speaking)")
    h.app.press("short")
    h.wait_state("idle", after=3)
    h.speech.cancelled_at = None
    assert h.app.command("say", ["three"])["ok"]
    h.events.wait_for(lambda e: isinstance(e, Sentence) and e.text == "three", 5)
    assert h.app.command("mute")["muted"] is True
    wait_until(lambda: h.speech.cancelled_at is not None)
    assert h.finish() == 0


def test_shutdown_during_an_announcement_ends_the_app_within_a_second(tmp_path):
    h = Harness(tmp_path, quiet(20.0), speech_seconds=10.0, holds={END: until_go}).start()
    h.wait_state("idle")
    assert h.app.command("say", ["a very long story"])["ok"]
    h.events.wait_for(lambda e: isinstance(e, Sentence), 5)
    asked = time.monotonic()
    h.app.shutdown("SIGTERM")
    assert h.finish(timeout=5) == 0
    assert time.monotonic() - asked < 1.0
    assert h.speech.cancelled_at is not None


class StreamingTranscriber(Transcriber):
    """A transcriber that streams the turn's audio as it is recorded (begin, feed, discard)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def begin(self) -> None:
        self.log.append("begin")

    def feed(self, frame: np.ndarray) -> None:
        if self.log[-1] != "feed":
            self.log.append("feed")

    def discard(self) -> None:
        self.log.append("discard")


def test_shutdown_while_recording_closes_the_turns_transcription_stream(tmp_path):
    """Nothing streams on after the app: a recording still open at shutdown has its stream discarded (a
    realtime session's socket and worker thread would otherwise live on until the process ends)."""
    audio = np.concatenate([quiet(0.5), tone(WAKE, 0.3), quiet(0.2), tone(SPEECH, 20.0)])
    h = Harness(tmp_path, audio, transcriber=StreamingTranscriber(), holds={1.5: until_go}).start()  # mid-question
    h.wait_state("listening")
    wait_until(lambda: h.transcriber.log[-1:] == ["feed"])
    h.app.shutdown("SIGTERM")
    assert h.finish(timeout=5) == 0
    assert h.transcriber.log == ["begin", "feed", "discard"] and h.transcriber.calls == []


class RecordingAlerts:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, label: str, missed: bool) -> None:
        self.calls.append(("start", label, missed))

    def stop(self) -> None:
        self.calls.append(("stop",))


def test_a_timer_rings_until_a_press_and_waits_for_a_turn_to_end(tmp_path):
    h = Harness(tmp_path, quiet(5.0), sentences=["Hello there."], speech_seconds=1.0, holds={END: until_go})
    alerts = RecordingAlerts()
    h.app.ports.alerts = alerts
    h.start()
    h.wait_state("idle")
    h.app.timer_ended("tea")
    h.wait_state("alerting")
    assert alerts.calls == [("start", "tea", False)]
    assert h.app.command("ask", ["hello"]) == {"ok": False, "error": "busy (alerting)"}
    h.app.press("short")
    h.wait_state("idle", after=2)
    assert alerts.calls[-1] == ("stop",)
    assert h.app.command("ask", ["hello"])["ok"]
    h.wait_state("speaking")
    h.app.timer_ended("eggs", missed=True)  # queued until the answer is over
    h.wait_state("alerting", after=5)
    assert alerts.calls[-1] == ("start", "eggs", True) and h.events.of(Turn)[0].outcome == "answered"
    h.app.alert_stopped("timeout")
    h.wait_state("idle", after=7)
    assert h.finish() == 0
