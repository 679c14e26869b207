"""Typed events: everything the appliance does is reported as one of these.

They are small frozen dataclasses; the JSON-lines writer, the LEDs, the log and the control socket all
consume the same objects from one :class:`EventBus`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, ClassVar

from appliance.errors import ErrorKind
from appliance.text.clean import clean_text

log = logging.getLogger(__name__)


class WakeSource(StrEnum):
    WAKE_WORD = "wake_word"
    BUTTON = "button"
    CTL = "ctl"
    FOLLOW_UP = "follow_up"


class RecordingEnd(StrEnum):
    SPEECH_ENDED = "speech_ended"
    MAX_LENGTH = "max_length"
    NO_SPEECH = "no_speech"
    CANCELLED = "cancelled"
    INPUT_ENDED = "input_ended"  # the microphone's input ended mid-question (a WAV file ran out)


class TurnOutcome(StrEnum):
    ANSWERED = "answered"
    NO_SPEECH = "no_speech"
    EMPTY_TRANSCRIPT = "empty_transcript"
    CANCELLED = "cancelled"
    ERROR = "error"
    OFFLINE = "offline"  # the cloud could not be reached and the question was not a command


class PressKind(StrEnum):
    """How long the button was held (the machine's ``Press`` event and the ``button`` event carry it)."""

    SHORT = "short"
    LONG = "long"


def _as(event: Event, name: str, enum: type[StrEnum]) -> None:
    """Fields with a fixed set of values hold the enum; the strings they serialize to are accepted too (and
    an unknown one fails here, where it is made, not in a consumer)."""
    object.__setattr__(event, name, enum(getattr(event, name)))


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {"event": self.name}
        data.update(dataclasses.asdict(self))
        return data


@dataclass(frozen=True)
class StateChanged(Event):
    name: ClassVar[str] = "state"
    state: str
    previous: str
    reason: str = ""


@dataclass(frozen=True)
class Wake(Event):
    name: ClassVar[str] = "wake"
    source: WakeSource
    model: str = ""
    score: float = 1.0

    def __post_init__(self) -> None:
        _as(self, "source", WakeSource)


@dataclass(frozen=True)
class Recording(Event):
    """A recorded question. Times are seconds of microphone audio since start (not wall time)."""

    name: ClassVar[str] = "recording"
    start: float
    end: float
    reason: RecordingEnd
    seconds: float

    def __post_init__(self) -> None:
        _as(self, "reason", RecordingEnd)


@dataclass(frozen=True)
class Transcript(Event):
    name: ClassVar[str] = "transcript"
    text: str


@dataclass(frozen=True)
class Sentence(Event):
    """A piece of the answer handed to speech."""

    name: ClassVar[str] = "sentence"
    text: str


@dataclass(frozen=True)
class Answer(Event):
    """The whole answer text of a turn, also when speech failed."""

    name: ClassVar[str] = "answer"
    text: str
    interrupted: bool = False


@dataclass(frozen=True)
class ToolCall(Event):
    name: ClassVar[str] = "tool_call"
    tool: str
    call_id: str
    arguments: str = ""
    ok: bool = True
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        # "name" is the tool's name in the event stream; "event" names the event.
        data["name"] = data.pop("tool")
        return data


@dataclass(frozen=True)
class Error(Event):
    name: ClassVar[str] = "error"
    kind: ErrorKind
    stage: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        _as(self, "kind", ErrorKind)


@dataclass(frozen=True)
class Turn(Event):
    """Timings of one turn in milliseconds (keys present only when the stage happened)."""

    name: ClassVar[str] = "turn"
    id: int
    outcome: TurnOutcome
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _as(self, "outcome", TurnOutcome)

    def to_dict(self) -> dict[str, Any]:
        data = {"event": self.name, "id": self.id, "outcome": self.outcome}
        data.update({k: round(v, 1) for k, v in self.timings.items()})
        return data


@dataclass(frozen=True)
class Button(Event):
    name: ClassVar[str] = "button"
    press: PressKind

    def __post_init__(self) -> None:
        _as(self, "press", PressKind)


@dataclass(frozen=True)
class Mute(Event):
    name: ClassVar[str] = "mute"
    muted: bool


@dataclass(frozen=True)
class Ready(Event):
    """The appliance can hear the wake word."""

    name: ClassVar[str] = "ready"


@dataclass(frozen=True)
class Stopped(Event):
    name: ClassVar[str] = "stopped"
    reason: str = ""


@dataclass(frozen=True)
class Network(Event):
    """The cloud became unreachable (``online`` false: questions are recognised on the device, local commands
    only) or reachable again (issue #29's offline mode)."""

    name: ClassVar[str] = "network"
    online: bool
    reason: str = ""


@dataclass(frozen=True)
class Info(Event):
    """Anything else worth a line in the event stream (volume changed, conversation reset, ...)."""

    name: ClassVar[str] = "info"
    what: str
    detail: str = ""


Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of events to subscribers, in the order they were emitted, from any thread."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        with self._lock:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:
                    log.exception("event subscriber failed on %s", event.name)


class JsonLinesSink:
    """Writes each event as one JSON object per line with ``t`` (monotonic seconds since start).

    This is where events leave the process, so this is where secrets are scrubbed: ``redact`` (the
    settings' ``secrets.redact``) runs over every line, whichever field an API key was echoed into."""

    def __init__(
        self,
        stream: IO[str],
        start: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        redact: Callable[[str], str] | None = None,
    ):
        self._stream = stream
        self._redact = redact
        self._clock = clock
        self._start = clock() if start is None else start
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        data = {"t": round(self._clock() - self._start, 4)}
        data.update(event.to_dict())
        line = json.dumps(data, ensure_ascii=False)
        if not _encodable(line, "utf-8"):
            # Text is made safe where it enters (appliance.text.clean); an event that got here unclean anyway is
            # written without what cannot be encoded, never dropped, and the log says which one it was.
            line = clean_text(line)
            log.warning("event %s carried a lone surrogate (not valid Unicode): written without it", event.name)
        if self._redact is not None:
            line = self._redact(line)
        with self._lock:
            try:
                self._stream.write(line + "\n")
            except UnicodeEncodeError:  # a stream narrower than UTF-8 (stdout under an ASCII locale)
                self._stream.write(_NON_ASCII.sub(_escaped, line) + "\n")
            self._stream.flush()


#: Outside its strings a JSON line is ASCII, so each of these is in a string and may be written as an escape.
_NON_ASCII = re.compile("[^\x00-\x7f]")


def _escaped(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]  # "\u00e4", or a surrogate pair's two escapes


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


class Recorder:
    """Keeps every event in memory; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[Event]) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """Return the first event matching ``predicate``, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [e.to_dict() for e in self.events[-10:]]
                    raise TimeoutError(f"no matching event within {timeout}s; last: {names}")
                self._cond.wait(remaining)

    def states(self) -> list[str]:
        return [e.state for e in self.of(StateChanged)]


@dataclass(frozen=True)
class TimerChanged(Event):
    """A timer was set, cancelled, extended, resumed after a restart, ended, or missed while down."""

    name: ClassVar[str] = "timer"
    action: str  # "set", "cancelled", "extended", "resumed", "ended", "missed"
    label: str
    seconds: float
    """The length it was set for."""
    left: float
    """Seconds it had left when this happened."""


@dataclass(frozen=True)
class PartialTranscript(Event):
    """The transcript so far, while the question streams to the realtime transcription."""

    name: ClassVar[str] = "partial_transcript"
    text: str


@dataclass(frozen=True)
class EndOfTurn(Event):
    """How the listener decided the question was over."""

    name: ClassVar[str] = "end_of_turn"
    reason: str  # "complete" (the model), "pause" (the long pause), "max_length", "no_speech", "silence"
    wait_ms: float
    """The pause between the last speech and the end: the endpointing wait."""
    probability: float | None = None
    """The turn model's last probability that the question was finished (None: not asked)."""
    held: bool = False
    """The transcript so far read unfinished ("... like in") at a pause the model called finished, so the
    listener waited on."""


@dataclass(frozen=True)
class Arbitration(Event):
    """A wake word this device heard, decided with the other devices of its household (issue #30): it answers
    (``won``) or another device does. Counted by the metrics as wins and losses."""

    name: ClassVar[str] = "arbitration"
    won: bool
    reason: str  # "alone", "best", "beaten", "late", "network", "takeover" (appliance.household.arbiter.Reason)
    winner: str  # the device that answers
    peers: int = 0  # other devices' claims for this wake word seen by the decision
    margin_db: float = 0.0  # this device's wake-word level minus the best other's
    ms: float = 0.0  # the wake word to the decision


@dataclass(frozen=True)
class Announced(Event):
    """``ctl announce --all`` (or the model's tell_everyone tool): who played it and who did not."""

    name: ClassVar[str] = "announced"
    text: str
    devices: dict[str, str] = field(default_factory=dict)  # device → "played", "busy (...)", "no answer"
