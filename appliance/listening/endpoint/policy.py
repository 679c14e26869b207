"""When is the user's turn over? The turn model is asked as soon as speech stops; its verdict ends the turn at a
short pause, or buys time up to a long pause; a transcript that stops on a dangling word overrules it.

Pure logic in audio time: the caller passes each frame's VAD verdict and duration (and whether the frame's last
VAD window was already silent), and hands back what it was asked for -- the model's probability through
:meth:`TurnPolicy.verdict`, the transcript's judgement through :meth:`TurnPolicy.text` -- whenever it has it (at
once, or later from another thread). No clock and no model inside, so tests run on patterns of frames.

Why not a fixed silence: 0.7 s is too long after a finished question (the user waits for nothing) and too short
for a thinking pause ("What is the weather like in ... Paris?"), which a fixed silence cuts in two.

Where the time goes, and why the model is asked early: the VAD frame is 80 ms and the frame holding the last
word's tail counts as speech, so the first silent frame ends 80-220 ms after the speech; the model then costs
~130 ms of CPU here. Asking on the frame whose *last* VAD window is already silent (a speculative question:
speech may still go on) lets the verdict be ready by the time the first silent frame confirms the pause. A
verdict is valid only for the speech it heard: any speech counted after it was asked makes it stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

_EPS = 1e-9  # sums of frame durations are not exact in binary floating point


class Action(StrEnum):
    CONTINUE = "continue"
    ASK = "ask"  # run the turn model on the audio so far and pass its probability to verdict()
    TEXT = "text"  # transcribe the speech so far and pass whether it reads unfinished to text()
    ASK_TEXT = "ask_text"  # both: start the transcript first (it takes longest), then ask the model
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
    held: bool = False
    """The transcript read unfinished at a pause the model called complete, so the turn went on."""


@dataclass
class TurnPolicy:
    short_pause: float = 0.08
    """Pause after speech before a "complete" verdict may end the turn (one 80 ms frame: the VAD's own
    hangover comes on top). Without a verdict yet, the model is asked at this pause."""
    long_pause: float = 2.0
    """Pause that ends the turn anyway when the model said incomplete (or could not answer)."""
    threshold: float = 0.5
    """Model probability above which the utterance counts as complete."""
    start_timeout: float = 5.0
    max_seconds: float = 15.0
    min_speech_seconds: float = 0.15
    """A run of speech shorter than this neither starts a question nor interrupts a pause (a click, a knock,
    a burst of noise the VAD took for speech)."""
    reask_pause: float | None = None
    """When the model said incomplete, ask it once more at this pause (a finished question it misjudged then
    ends well before the long pause). Off by default: on the synthesized sets the second verdict more often
    turns a thinking pause into a cut than it shortens a finished question's wait."""
    confirm_pause: float | None = None
    """A "not finished" heard on a speculative question (asked with almost no silence after the words) is
    asked again once the pause reaches this (e.g. 0.24): the model hears a finished question better with some
    silence after it. Off by default: on the synthesized sets it shortens 1 of 14 finished questions' waits
    and turns thinking pauses the model first heard as unfinished into cuts."""
    speculative_interval: float = 0.32
    """Least audio between two speculative questions (asked on a speech frame whose tail is silent), which
    bounds the model's CPU while the user speaks with short gaps between words."""
    hold_for_text: bool = False
    """Check the transcript before a "complete" verdict ends the turn (when streaming transcription can say
    what was said so far): one that stops on a dangling word holds the turn open. The transcript is asked for
    with the model (ASK_TEXT), so its latency runs alongside the model's instead of after it; the turn needs
    it anyway, so waiting for it costs the answer nothing."""
    text_wait: float = 0.6
    """Longest wait for that transcript, in audio from when it was asked; past it the verdict stands alone."""
    early_text: bool = False
    """Ask for the transcript with every question to the model even when it does not hold the turn: the
    transcription then runs alongside the model, and the turn's transcript is there when the turn ends."""
    result: EndOfTurn | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.short_pause <= self.long_pause:
            raise ValueError("need 0 < short_pause <= long_pause")
        if self.reask_pause is not None and self.reask_pause <= 0:
            raise ValueError("need reask_pause > 0")
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
        self._speech_frames = 0  # counted speech frames so far: what a question's answer is valid for
        self._pending: int | None = None  # asked (for that speech), no verdict yet
        self._asked_at_pause = 0.0  # the pause when the model was last asked
        self._last_speculative: float | None = None
        self._verdict: tuple[int, float] | None = None  # (speech it heard, probability)
        self._text_for: int | None = None  # the speech the transcript was asked for
        self._text_asked_at = 0.0  # audio time of that request
        self._unfinished: bool | None = None  # its answer (None: not yet)
        self._held: int | None = None  # the transcript read unfinished for that speech

    @property
    def pause_id(self) -> int:
        """Identifies the speech heard so far; an answer given for an older one is ignored (the user spoke
        meanwhile)."""
        return self._speech_frames

    def process(self, is_speech: bool, seconds: float, *, tail_silent: bool = False) -> Action:
        """Account for one frame; say whether to go on, ask the model, ask for the transcript, or stop.
        ``tail_silent``: the VAD heard the frame's end as silence although the frame counts as speech."""
        if self.result is not None:
            return Action.END
        self.elapsed += seconds
        counted = False
        if is_speech:
            if self._run == 0.0:
                self._run_start = self.elapsed - seconds
            self._run += seconds
            if self._run >= self.min_speech_seconds - _EPS:
                counted = True
                if not self.started:
                    self.started = True
                    self.speech_start = self._run_start
                self._speech_frames += 1
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
        if counted:
            return self._speculate() if tail_silent else Action.CONTINUE
        return self._decide()

    def verdict(self, probability: float, pause_id: int | None = None) -> Action:
        """The model's probability for the question asked about speech ``pause_id`` (default: the latest)."""
        if self.result is not None:
            return Action.END
        heard = self._speech_frames if pause_id is None else pause_id
        if heard != self._speech_frames or self._pending != heard:
            return Action.CONTINUE  # stale: the user spoke again since it was asked
        self._pending = None
        self.probability = probability
        self._verdict = (heard, probability)
        return self._decide()

    def text(self, unfinished: bool, pause_id: int | None = None) -> Action:
        """Whether the transcript of the speech ``pause_id`` (default: the latest) stops on a dangling word
        (False also when no transcript can be had: the model's verdict then stands)."""
        if self.result is not None:
            return Action.END
        heard = self._speech_frames if pause_id is None else pause_id
        if heard != self._speech_frames or self._text_for != heard or self._unfinished is not None:
            return Action.CONTINUE
        self._unfinished = unfinished
        if unfinished and self.hold_for_text:
            self._held = heard
        return self._decide()

    # --- the rules

    def _speculate(self) -> Action:
        if self._pending == self._speech_frames:
            return Action.CONTINUE  # already asked about this very speech
        if (
            self._last_speculative is not None
            and self.elapsed - self._last_speculative < self.speculative_interval - _EPS
        ):
            return Action.CONTINUE
        self._last_speculative = self.elapsed
        return self._ask()

    def _decide(self) -> Action:
        """After a frame of pause or a verdict: end, wait, or ask."""
        if self.pause < self.short_pause - _EPS:
            return Action.CONTINUE
        now = self._speech_frames
        verdict = self._verdict if self._verdict is not None and self._verdict[0] == now else None
        if verdict is None:
            return self._ask() if self._pending != now else Action.CONTINUE
        if verdict[1] > self.threshold:
            if not self.hold_for_text:
                return self._end(EndReason.COMPLETE)
            if self._text_for != now:
                self._want_text()
                return Action.TEXT
            if self._unfinished:
                return Action.CONTINUE  # the transcript said "not finished": only the long pause (or speech) ends it
            if self._unfinished is False or self.elapsed - self._text_asked_at >= self.text_wait - _EPS:
                return self._end(EndReason.COMPLETE)  # read finished, or no transcript in time: the verdict stands
            return Action.CONTINUE
        if self._pending == now:
            return Action.CONTINUE
        for again in (self.confirm_pause if self._asked_at_pause == 0.0 else None, self.reask_pause):
            if again is not None and self._asked_at_pause < again - _EPS and self.pause >= again - _EPS:
                return self._ask()
        return Action.CONTINUE

    def _ask(self) -> Action:
        self._pending = self._speech_frames
        self._asked_at_pause = self.pause
        if (self.hold_for_text or self.early_text) and self._text_for != self._speech_frames:
            self._want_text()
            return Action.ASK_TEXT
        return Action.ASK

    def _want_text(self) -> None:
        self._text_for, self._text_asked_at, self._unfinished = self._speech_frames, self.elapsed, None

    def _end(self, reason: EndReason) -> Action:
        wait = self.pause if self.started else 0.0
        held = self._held is not None
        self.result = EndOfTurn(reason, self.elapsed, wait, self.probability, self.speech_start, self.speech_end, held)
        return Action.END
