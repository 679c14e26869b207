"""Endpointing as pure logic: feed it whether each chunk was speech and how long it was.

No clocks, no threads: the caller passes the duration of each chunk, so tests run instantly with exact
times. Decides when a recorded question is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_EPS = 1e-9  # sums of chunk durations are not exact in binary floating point


class Outcome(StrEnum):
    CONTINUE = "continue"
    SPEECH_ENDED = "speech_ended"  # trailing silence after speech: send it
    MAX_LENGTH = "max_length"  # hard cap reached: send what we have
    NO_SPEECH = "no_speech"  # nothing said before the start timeout: back to idle, no cloud request


@dataclass
class Segmenter:
    trailing_silence: float = 0.7
    start_timeout: float = 5.0
    max_seconds: float = 15.0
    min_speech_seconds: float = 0.15

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.elapsed = 0.0
        self.speech_run = 0.0  # current run of consecutive speech
        self.silence_run = 0.0  # current run of silence since the last speech
        self.started = False  # a run of at least min_speech_seconds was heard
        self.speech_start: float | None = None  # seconds since reset where the question's speech began
        self.speech_end: float | None = None  # seconds since reset where its last speech ended
        self._run_start = 0.0

    def process(self, is_speech: bool, seconds: float) -> Outcome:
        """Account for one chunk of ``seconds`` that was (not) speech; say whether the recording is over."""
        if is_speech:
            if self.speech_run == 0.0:
                self._run_start = self.elapsed
            self.elapsed += seconds
            self.speech_run += seconds
            self.silence_run = 0.0
            if not self.started and self.speech_run >= self.min_speech_seconds - _EPS:
                self.started = True
                self.speech_start = self._run_start  # blips before it do not count
            if self.started:
                self.speech_end = self.elapsed
        else:
            self.elapsed += seconds
            self.speech_run = 0.0
            self.silence_run += seconds
        if self.elapsed >= self.max_seconds - _EPS:
            return Outcome.MAX_LENGTH if self.started else Outcome.NO_SPEECH
        if self.started and self.silence_run >= self.trailing_silence - _EPS:
            return Outcome.SPEECH_ENDED
        # a run of speech still too short to count is given the chance to become a question
        if not self.started and self.speech_run == 0.0 and self.elapsed >= self.start_timeout - _EPS:
            return Outcome.NO_SPEECH
        return Outcome.CONTINUE
