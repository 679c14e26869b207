"""The small interfaces every hardware and cloud dependency sits behind.

Each port has a real adapter and a simulated one that is a full implementation (WAV files for audio,
gpiozero's MockFactory for GPIO, image files for the camera, a local server for the cloud).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.events import Event
from appliance.text.piece import Piece

if TYPE_CHECKING:
    from appliance.config.settings import Settings
    from appliance.timings import TurnTimings

#: The pipeline's audio format: 16 kHz mono int16, in frames of 80 ms (what openWakeWord wants).
SAMPLE_RATE = 16_000
FRAME_SAMPLES = 1_280
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE

Emit = Callable[[Event], None]


class Microphone(Protocol):
    def frames(self) -> Iterator[np.ndarray]:
        """Yield 80 ms frames (int16, mono, 16 kHz, FRAME_SAMPLES long) until the source ends or close()."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Tap:
    """One frame as the front end saw it: what it passes on, what the microphone heard, what the speaker
    played at the same position of the microphone's clock (all 80 ms int16 at 16 kHz)."""

    clean: np.ndarray
    raw: np.ndarray
    reference: np.ndarray


@runtime_checkable
class TappedMicrophone(Protocol):
    """A microphone behind a front end that also hands out each frame's raw audio and echo reference."""

    def taps(self) -> Iterator[Tap]:
        """Like ``frames()``, each frame with its raw audio and reference."""
        ...


class Speaker(Protocol):
    def play(self, pcm: np.ndarray, rate: int, cancel: CancelToken | None = None) -> bool:
        """Play int16 mono samples at ``rate``; block until played. Consecutive calls play gaplessly.

        Returns False when ``cancel`` fired (playback stops within a few tens of ms)."""
        ...

    def drain(self) -> None:
        """Block until everything written has been heard."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WakeHit:
    model: str
    score: float


class WakeDetector(Protocol):
    def process(self, frame: np.ndarray, threshold_boost: float = 0.0) -> WakeHit | None:
        """Feed one 80 ms frame; return a hit when a model's score passes its threshold (+ boost)."""
        ...

    def reset(self) -> None: ...


@runtime_checkable
class WakeDetectorWithScores(WakeDetector, Protocol):
    last_scores: dict[str, float]  # every model's score on the last frame


@runtime_checkable
class GatedWake(Protocol):
    """A wake detector that sleeps in a quiet room (appliance/wake/gate.py)."""

    forced_open: bool  # True: run the model on every frame (while the appliance makes sound)


class BargeIn(Protocol):
    """The wake word heard over the appliance's own sound (appliance/wake/barge_in.py)."""

    def process(self, raw: np.ndarray, reference: np.ndarray, front_end_hit: WakeHit | None = None) -> WakeHit | None:
        """While the appliance makes sound: the raw microphone frame, the echo reference at its position and
        the wake word's verdict on the front end's frame; the wake, unless it is the appliance's own voice."""
        ...

    def pause(self) -> None:
        """Its sound stopped (or the wake word is not being listened for): the next frame starts afresh."""
        ...


class VoiceActivity(Protocol):
    def speech_probability(self, frame: np.ndarray) -> float:
        """Probability (0..1) that the 80 ms frame holds speech."""
        ...

    def reset(self) -> None: ...


@runtime_checkable
class TailVoiceActivity(Protocol):
    """A VAD that can also say how its latest frame ended (finer than the 80 ms frame)."""

    def tail_probability(self) -> float:
        """Probability (0..1) that the end of the latest frame passed to ``speech_probability`` is speech."""
        ...


class Transcriber(Protocol):
    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> str:
        """Transcribe 16 kHz mono int16 audio. Raises ApplianceError; returns "" for no speech.

        ``deadline`` and ``timings`` are the turn's (an implementation that does not use them takes them
        all the same: the turn always passes them)."""
        ...


@runtime_checkable
class LiveTranscriber(Transcriber, Protocol):
    """A transcriber that streams: it hears the turn's audio while the user speaks (from the moment the turn
    opens), and ``transcribe`` then finishes what it heard (appliance/listening/live_transcript.py)."""

    def begin(self) -> None:
        """A turn opened: the frames that follow are its audio."""
        ...

    def feed(self, frame: np.ndarray) -> None: ...

    def discard(self) -> None:
        """The recording was dropped: forget what it heard."""
        ...


@runtime_checkable
class SegmentingTranscriber(LiveTranscriber, Protocol):
    """A live transcriber that can also transcribe the speech so far at a pause (the end-of-turn policy's
    transcript check)."""

    def commit_segment(self, on_text: Callable[[str], None]) -> bool:
        """Commit the speech so far; ``on_text`` gets its transcript (from another thread). False when it
        cannot (no live session)."""
        ...

    def set_commit_tail(self, commit_tail: bool) -> None:
        """False: nothing was said after the last commit (the trailing silence is not sent)."""
        ...


@runtime_checkable
class Warmable(Protocol):
    """An adapter that loads SDKs, models or connections ahead of its first use (at start-up)."""

    def warm(self) -> None: ...


@runtime_checkable
class Preparable(Protocol):
    """A stage that opens its connection ahead of a turn (on the wake word): its first request then pays no
    DNS, TCP, TLS or handshake."""

    def prepare(self) -> object:
        """Start opening, in the background; never blocks for long."""
        ...


class Synthesizer(Protocol):
    """Text to speech for one text at a time: what the speech pipeline needs of an engine."""

    @property
    def sample_rate(self) -> int:
        """Rate of the PCM ``stream`` yields (known before the first chunk: the speaker is set up for it)."""
        ...

    def stream(self, text: str, previous_text: str | None, cancel: CancelToken) -> Iterator[bytes]:
        """s16le mono PCM chunks of ``text`` as they are made (a chunk may end mid-sample).

        ``previous_text`` is what was said just before, for engines that match their intonation to it.
        Raises ApplianceError (auth, quota, rate_limited with ``retry_after``, server, timeout, connection,
        tts for audio that is not audio) or Cancelled; a cancel stops it within ~200 ms."""
        ...

    def warm(self) -> None:
        """Load SDKs, models and connections now (called in the background at start-up); never raises."""
        ...


class Assistant(Protocol):
    def respond(
        self,
        text: str,
        cancel: CancelToken,
        emit: Emit,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
        fragments: bool = False,
        filler: Callable[[CancelToken], None] | None = None,
    ) -> Iterator[Piece]:
        """Yield speakable pieces of the answer as soon as they stream in: whole sentences, or with
        ``fragments`` a few words at a time; either way each piece says whether it ends a sentence (the one
        split of the answer into sentences: speech trusts it).

        ``deadline`` bounds the whole answer (else the assistant's own default); ``timings`` gets the
        ``llm_*`` marks; ``fragments`` yields a few words at a time for streaming speech; ``filler`` plays the
        turn's "let me look that up" (called between pieces, while a slow step such as a web search runs).

        Emits tool_call / error / info events. Raises ApplianceError when nothing useful can be said;
        a failure after text was yielded ends the iteration with a short spoken apology instead."""
        ...

    def reset(self) -> None:
        """Forget the conversation."""
        ...

    def remember(self, question: str, answer: str) -> None:
        """An exchange answered on the device (a local command): the next request carries it, so the model
        knows what was said and done ("make it fifteen minutes instead")."""
        ...

    def pending_confirmation(self) -> str | None:
        """The question the last answer ended with about a call that waits for the user's yes (a destructive
        tool, :mod:`appliance.tools.confirm`), or None. The turn then listens without the wake word."""
        ...

    def settle_confirmation(self, yes: bool) -> None:
        """Every turn settles the question before anything else: ``yes`` (a clear yes, answering it) lets the
        next :meth:`respond` run the call; False drops it (the model was told it was not done)."""
        ...


@dataclass
class SpeechResult:
    first_audio: float | None = None  # time.monotonic() when the first sample was handed to the speaker
    first_sentence: float | None = None  # time.monotonic() when the first sentence arrived
    spoken: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # sentences that could not be synthesized
    interrupted: bool = False


class Speech(Protocol):
    @property
    def wants_fragments(self) -> bool:
        """The turn asks the assistant for fragments (a few words at a time) instead of whole sentences:
        speech that starts on the first words."""
        ...

    def speak(
        self,
        pieces: Iterator[Piece],
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None = None,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> SpeechResult:
        """Synthesize and play the answer's sentences as they arrive (pipelined), by the pieces'
        ``sentence_end`` marks (text that comes whole: :meth:`Piece.whole`); never hangs; stops on cancel."""
        ...

    def phrase(self, key: str, cancel: CancelToken | None = None) -> None:
        """Play a fixed phrase ("offline", "error", "lost_connection", "too_many_rounds") from the cache,
        or an earcon when it was never synthesized."""
        ...


class Camera(Protocol):
    def capture_jpeg(self) -> bytes:
        """Capture one frame as JPEG bytes. Raises CameraError (missing, busy, timeout)."""
        ...

    def close(self) -> None: ...


class Indicators(Protocol):
    """LEDs. Driven by events; never block."""

    def show(self, pattern: str) -> None: ...

    def camera_led(self, on: bool) -> None: ...

    def close(self) -> None: ...


class Alerts(Protocol):
    """What rings when a timer ends (the timers' own module provides it). Never blocks."""

    def start(self, label: str, missed: bool) -> None:
        """Start ringing; when the alert ends by itself, the app is told (``App.alert_stopped``)."""
        ...

    def stop(self) -> None: ...


class RunningTimer(Protocol):
    """One running timer, as tools and commands read it (appliance/timers/schedule.py's ``Timer``)."""

    @property
    def label(self) -> str:
        """What the user called it ("pasta"); "" for an unnamed timer."""
        ...

    @property
    def seconds(self) -> float:
        """The length it was set for, including time added later."""
        ...

    @property
    def name(self) -> str:
        """How it is referred to: "pasta timer", or "timer" for an unnamed one."""
        ...

    def left(self, now: float) -> float: ...


class Timers(Protocol):
    """The running timers, as the timer tools and local commands use them (appliance/timers/service.py).
    The methods that change them raise ``TimerError`` with a message for the user."""

    def running(self) -> Sequence[RunningTimer]: ...

    def now(self) -> float:
        """The clock the timers' ``left`` is read against."""
        ...

    def set(self, seconds: float, label: str | None = None) -> RunningTimer: ...

    def cancel(self, label: str | None = None, everything: bool = False) -> Sequence[RunningTimer]: ...

    def add_time(self, label: str | None, seconds: float) -> RunningTimer: ...


class Controls(Protocol):
    """What tools may do to the appliance itself."""

    def volume(self) -> float: ...

    def set_volume(self, value: float) -> float: ...

    def stop_turn(self) -> None: ...

    def reset_conversation(self) -> None: ...

    def camera_allowed(self) -> bool: ...

    def timers(self) -> Timers | None:
        """The running timers (None when the appliance keeps none)."""
        ...


@dataclass
class ToolContext:
    """Handed to every tool call."""

    controls: Controls
    camera: Camera | None
    indicators: Indicators | None
    cancel: CancelToken
    emit: Emit
    settings: Settings | None = None
