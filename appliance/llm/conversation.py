"""Where the conversation stands between turns: the anchor, what is owed, and the reset generation.

The conversation is ``previous_response_id``. A response whose function calls were not all answered (the
turn was cancelled while tools ran, or the round limit hit) stays owed: the next turn starts from it and
sends the missing outputs along with the new question, so the API never sees an orphaned call (400). A
response that was cut off is never used as the anchor: the conversation falls back to the last complete one.
``reset()`` bumps a generation, so a turn running across a reset does not write its state back.
Thread-safe; the clock (idleness) is passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.tools.tool import FunctionCall, ToolOutput


@dataclass
class Owed:
    """A stored response whose function calls need outputs before the conversation can go on."""

    response_id: str
    calls: list[FunctionCall]
    outputs: dict[str, ToolOutput] = field(default_factory=dict)

    def items(self, missing: str) -> list[dict[str, Any]]:
        return [
            {"type": "function_call_output", "call_id": call.call_id, "output": self.outputs.get(call.call_id, missing)}
            for call in self.calls
        ]


@dataclass(frozen=True)
class Start:
    """Where a turn begins."""

    previous: str | None
    carried: list[dict[str, Any]]
    """Outputs still owed to ``previous``, sent before the new question."""
    generation: int
    idle: float | None
    """Seconds since the last turn when the conversation expired because of it, else None."""


#: The most local-command messages kept for the next request (the latest exchanges).
LOCAL_ITEMS = 12


class Conversation:
    def __init__(self, idle_seconds: float, clock: Callable[[], float], missing_output: str) -> None:
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._missing = missing_output
        self._lock = threading.Lock()
        self._anchor: str | None = None
        """The last complete response whose calls are all answered: the next previous_response_id."""
        self._owed: Owed | None = None
        self._last_used: float | None = None
        self._generation = 0
        self._local: list[dict[str, Any]] = []
        """Exchanges answered on the device since the last request: sent before the next question."""

    @property
    def previous_response_id(self) -> str | None:
        """Where the next turn continues from (the owed response, or the last complete one)."""
        with self._lock:
            return self._owed.response_id if self._owed is not None else self._anchor

    def begin(self) -> Start:
        with self._lock:
            now = self._clock()
            idle = None if self._last_used is None else now - self._last_used
            expired = (
                idle is not None and idle > self._idle_seconds and (self._anchor is not None or self._owed is not None)
            )
            if expired:
                self._forget()
            self._last_used = now
            previous: str | None = self._anchor
            carried: list[dict[str, Any]] = []
            if self._owed is not None:
                previous, carried = self._owed.response_id, self._owed.items(self._missing)
            carried, self._local = carried + self._local, []
            return Start(previous, carried, self._generation, idle if expired else None)

    def answered(self, generation: int, response_id: str) -> None:
        """A complete response with no calls: the new anchor."""
        with self._lock:
            if self._generation == generation:
                self._anchor, self._owed = response_id, None

    def owe(self, generation: int, owed: Owed) -> None:
        """A response with calls: it stays owed until the next request sends their outputs."""
        with self._lock:
            if self._generation == generation:
                self._owed = owed

    def record(self, owed: Owed, call_id: str, output: ToolOutput) -> None:
        with self._lock:
            owed.outputs[call_id] = output

    def forget(self, generation: int) -> None:
        """The server no longer knows the conversation (unless it was reset meanwhile anyway)."""
        with self._lock:
            if self._generation == generation:
                self._forget()

    def remember(self, question: str, answer: str) -> None:
        """A local command's exchange: the next turn's request carries it (after any owed outputs), so the
        model's context has it. Kept only until then; a reset or an expired conversation drops it."""
        with self._lock:
            self._last_used = self._clock()
            self._local += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            del self._local[:-LOCAL_ITEMS]

    def touch(self) -> None:
        with self._lock:
            self._last_used = self._clock()

    def reset(self) -> None:
        with self._lock:
            self._forget()
            self._generation += 1

    def _forget(self) -> None:
        self._anchor = None
        self._owed = None
        self._local = []
