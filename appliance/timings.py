"""The timings of one turn: named marks on the monotonic clock, set by whichever stage reaches them first.

One object per turn is passed down to every stage (listener, transcription, model, speech); the ``turn``
event reports the spans between marks in milliseconds. Thread-safe: stages run on worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: The spans the ``turn`` event reports: name -> (from mark, to mark). Absent marks leave a span out.
SPANS: dict[str, tuple[str, str]] = {
    "stt_ms": ("end_of_speech", "transcript"),
    "transcript_to_first_delta_ms": ("transcript", "llm_first_delta"),
    "request_to_first_delta_ms": ("llm_request_start", "llm_first_delta"),
    "request_to_first_sentence_ms": ("llm_request_start", "llm_first_sentence"),
    "first_sentence_to_first_audio_ms": ("first_sentence", "first_audio"),
    "first_delta_to_first_audio_ms": ("llm_first_delta", "first_audio"),
    "end_of_speech_to_first_audio_ms": ("end_of_speech", "first_audio"),
    "end_of_speech_to_search_ms": ("end_of_speech", "llm_search_start"),
    "search_ms": ("llm_search_start", "llm_search_done"),
    "end_of_speech_to_filler_ms": ("end_of_speech", "filler"),
    "total_ms": ("end_of_speech", "done"),
}


class TurnTimings:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[str, float] = {}
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, name: str, at: float | None = None) -> float:
        """Record ``name`` now (or ``at``) unless it was already recorded; returns the recorded time."""
        with self._lock:
            if name not in self._marks:
                self._marks[name] = self._clock() if at is None else at
            return self._marks[name]

    def set(self, name: str, at: float | None = None) -> None:
        """Record ``name``, replacing an earlier mark (e.g. ``done``)."""
        with self._lock:
            self._marks[name] = self._clock() if at is None else at

    def value(self, name: str, value: float) -> None:
        """A measured figure that is not a mark (e.g. the endpointing wait in ms), reported as it is."""
        with self._lock:
            self._values[name] = value

    def get(self, name: str) -> float | None:
        with self._lock:
            return self._marks.get(name)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._marks

    def marks(self) -> dict[str, float]:
        with self._lock:
            return dict(self._marks)

    def spans_ms(self) -> dict[str, float]:
        """Every span of :data:`SPANS` whose two marks exist, plus the recorded values."""
        with self._lock:
            marks, values = dict(self._marks), dict(self._values)
        out = {name: (marks[b] - marks[a]) * 1000 for name, (a, b) in SPANS.items() if a in marks and b in marks}
        out.update(values)
        return out
