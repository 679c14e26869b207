"""The work the app runs on worker threads: the turn (appliance/core/turn.py) and the announcement (``ctl say``),
each started, stopped and reported as the state machine's effects say, and joined at shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from appliance.config.settings import Settings
from appliance.core.turn import Announcement, Stages, TurnRunner
from appliance.events import Event, Turn, TurnOutcome


class Jobs:
    def __init__(
        self,
        settings: Settings,
        stages: Callable[[], Stages],
        emit: Callable[[Event], None],
        clock: Callable[[], float],
    ) -> None:
        """``stages``: what a turn runs, read as each job starts."""
        self._settings = settings
        self._stages = stages
        self._emit = emit
        self._clock = clock
        self.runner: TurnRunner | None = None
        self.announcement: Announcement | None = None
        self._workers: list[threading.Thread] = []

    def start_turn(
        self, turn: int, audio: np.ndarray | None, text: str | None, confirming: bool, endpoint_wait_ms: float | None
    ) -> None:
        self.runner = TurnRunner(
            turn,
            self._stages(),
            deadline_seconds=self._settings.assistant.deadline,
            follow_up=self._settings.wake.follow_up,
            confirming=confirming,
            clock=self._clock,
        )
        if text is None and endpoint_wait_ms is not None:
            self.runner.timings.value("endpointing_wait_ms", endpoint_wait_ms)
        self._spawn(self.runner.start(audio, text))

    def cancel_turn(self, turn: int, reason: str) -> None:
        if self.runner is not None and self.runner.id == turn:
            runner, self.runner = self.runner, None
            runner.stop(reason)
            self._emit(Turn(turn, TurnOutcome.CANCELLED, runner.spans_ms()))

    def finish_turn(self, turn: int, outcome: str) -> None:
        if self.runner is not None and self.runner.id == turn:
            self._emit(Turn(turn, TurnOutcome(outcome), self.runner.spans_ms()))
            self.runner = None

    def tool_round(self) -> None:
        """A tool starts: the turn shows it is thinking again."""
        if self.runner is not None:
            self.runner.tool_round()

    def start_announcement(self, job: int, text: str, chime: bool) -> None:
        self.announcement = Announcement(job, text, self._stages(), chime=chime)
        self._spawn(self.announcement.start())

    def stop_announcement(self, job: int, reason: str) -> None:
        if self.announcement is not None and self.announcement.job == job:
            self.announcement.stop(reason)
            self.announcement = None

    def stop(self, reason: str) -> None:
        """Stop whatever runs (shutdown)."""
        if self.runner is not None:
            self.cancel_turn(self.runner.id, reason)
        if self.announcement is not None:
            self.stop_announcement(self.announcement.job, reason)

    def join(self, seconds: float) -> None:
        """Wait up to ``seconds`` in all for the workers to end."""
        deadline = time.monotonic() + seconds
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, worker: threading.Thread) -> None:
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
