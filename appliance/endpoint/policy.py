"""When is the user's turn over? A short pause asks the turn model; its verdict ends the turn or buys a longer pause.

Pure logic in audio time: the caller passes each frame's VAD verdict and duration, and hands the model's
probability back through :meth:`TurnPolicy.verdict` whenever it has it (at once, or a few frames later from a
worker thread). No clock and no model inside, so tests run on patterns of frames with exact times.

Why not a fixed silence: 0.7 s is too long after a finished question (the user waits for nothing) and too short
for a thinking pause ("What is the weather like in ... Paris?"), which a fixed silence cuts in two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

_EPS = 1e-9  # sums of frame durations are not exact in binary floating point


class Action(StrEnum):
    CONTINUE = "continue"
    ASK = "ask"  # run the turn model on the audio so far and pass its probability to verdict()
    END = "end"  # the turn is over: see TurnPolicy.result


class EndReason(StrEnum):
    COMPLETE = "complete"  # the model heard a finished utterance at a short pause
    PAUSE = "pause"  # the long pause passed (model said incomplete, or never answered)
    MAX_LENGTH = "max_length"  # hard cap reached: send what was recorded
    NO_SPEECH = "no_speech"  # nothing said before the start timeout: no cloud request


@dataclass(frozen=True)
class EndOfTurn:
    """What the ``end_of_turn`` event reports."""

    reason: EndReason
    at: float
    """Audio seconds since reset when the turn ended."""
    wait: float
    """Seconds of pause between the last speech and the end (the endpointing wait as the VAD saw it)."""
    probability: float | None
    """The model's last probability that the utterance was complete (None if it was never asked)."""
    speech_start: float | None
    speech_end: float | None


@dataclass
class TurnPolicy:
    short_pause: float = 0.16
    """Pause after speech that asks the turn model (two 80 ms frames; the VAD's own hangover comes on top)."""
    long_pause: float = 2.0
    """Pause that ends the turn anyway when the model said incomplete (or could not answer)."""
    threshold: float = 0.5
    """Model probability above which the utterance counts as complete."""
    start_timeout: float = 5.0
    max_seconds: float = 15.0
    min_speech_seconds: float = 0.15
    """A run of speech shorter than this neither starts a question nor interrupts a pause (a click, a knock,
    a burst of noise the VAD took for speech)."""
    result: EndOfTurn | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.short_pause <= self.long_pause:
            raise ValueError("need 0 < short_pause <= long_pause")
        self.reset()

    def reset(self) -> None:
        self.elapsed = 0.0
        self.started = False
        self.speech_start: float | None = None
        self.speech_end: float | None = None
        self.pause = 0.0  # pause since speech_end (blips included)
        self.probability: float | None = None
        self.result = None
        self._run = 0.0  # current run of speech frames
        self._run_start = 0.0
        self._pause_id = 0  # which pause a pending question belongs to
        self._asked = False  # the model was asked during the current pause
        self._pending = False  # asked, no verdict yet

    @property
    def pause_id(self) -> int:
        """Identifies the current pause; a verdict for an older one is ignored (the user spoke meanwhile)."""
        return self._pause_id

    def process(self, is_speech: bool, seconds: float) -> Action:
        """Account for one frame; say whether to go on, ask the model, or stop."""
        if self.result is not None:
            return Action.END
        self.elapsed += seconds
        if is_speech:
            if self._run == 0.0:
                self._run_start = self.elapsed - seconds
            self._run += seconds
            if self._run >= self.min_speech_seconds - _EPS:
                if not self.started:
                    self.started = True
                    self.speech_start = self._run_start
                if self.pause > 0.0:  # the user goes on: a new pause will be judged afresh
                    self._pause_id += 1
                    self._asked = self._pending = False
                self.pause = 0.0
                self.speech_end = self.elapsed
            elif self.started:
                self.pause += seconds  # too short to count yet: still part of the pause
        else:
            self._run = 0.0
            if self.started:
                self.pause += seconds
        if self.elapsed >= self.max_seconds - _EPS:
            return self._end(EndReason.MAX_LENGTH if self.started else EndReason.NO_SPEECH)
        if not self.started:
            if self._run == 0.0 and self.elapsed >= self.start_timeout - _EPS:
                return self._end(EndReason.NO_SPEECH)
            return Action.CONTINUE
        if self.pause >= self.long_pause - _EPS:
            return self._end(EndReason.PAUSE)
        if self.pause >= self.short_pause - _EPS and not self._asked:
            self._asked = self._pending = True
            return Action.ASK
        return Action.CONTINUE

    def verdict(self, probability: float, pause_id: int | None = None) -> Action:
        """The model's probability for the question asked during pause ``pause_id`` (default: the current one)."""
        if self.result is not None:
            return Action.END
        if (pause_id is not None and pause_id != self._pause_id) or not self._pending:
            return Action.CONTINUE  # stale: the user spoke again since it was asked
        self._pending = False
        self.probability = probability
        if probability > self.threshold:
            return self._end(EndReason.COMPLETE)
        return Action.CONTINUE

    def _end(self, reason: EndReason) -> Action:
        wait = self.pause if self.started else 0.0
        self.result = EndOfTurn(reason, self.elapsed, wait, self.probability, self.speech_start, self.speech_end)
        return Action.END
