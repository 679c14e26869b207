"""The running timers: a thread that sleeps until the next deadline and rings, the state file kept in step.

Thread-safe: tools call it from the turn's worker (two ``set_timer`` calls of one answer run in parallel),
the app from its loop. Ringing is handed to ``on_ring(timer, missed)``, which only posts a message to the
app's inbox (the app decides, in its state machine, when and how the alarm sounds); a timer that ended stays
in the state file until the app says its alert started (:meth:`TimerService.rang`), so a stop before then
finds it missed at the next start.

The state file always holds what the service keeps once a change has returned: every save copies the timers
and writes them under one lock, so an older copy never lands last (:meth:`TimerService.file_mismatch` checks).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from appliance.events import Event, TimerChanged
from appliance.timers import store
from appliance.timers.schedule import Timer, TimerBook

log = logging.getLogger(__name__)

Ring = Callable[[Timer, bool], None]

#: The countdown wakes at least this often (seconds), so no deadline is too far away to wait for.
MAX_WAIT = 3600.0


class TimerService:
    def __init__(
        self,
        path: Path | None,
        on_ring: Ring,
        emit: Callable[[Event], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``path``: the state file (None keeps timers in memory only, e.g. without a state directory)."""
        self._path = path
        self._on_ring = on_ring
        self._emit = emit
        self._clock = clock
        self._wall = wall
        self._book = TimerBook()
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()  # held from the copy of the timers to the end of its writing
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> list[Timer]:
        """Load the saved timers, ring the ones missed while the appliance was down, start counting.
        Returns the missed ones."""
        missed: list[Timer] = []
        if self._path is not None:
            data = store.load(self._path)
            if data is not None:
                with self._cond:
                    self._book, missed = TimerBook.from_json(data, self._clock(), self._wall())
                    resumed = self._book.running()
                    tidy = self._book.to_json() == data
                for t in resumed:
                    self._emit(TimerChanged("resumed", t.label, round(t.seconds, 1), round(t.left(self._clock()), 1)))
                if not tidy:  # entries dropped, or deadlines brought in: the file says what runs
                    self._save()
        for t in missed:
            self._emit(TimerChanged("missed", t.label, round(t.seconds, 1), 0.0))
            self._on_ring(t, True)
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
        self._thread.start()
        return missed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(1.0)

    # --- what tools and the control socket use

    def running(self) -> list[Timer]:
        with self._cond:
            return self._book.running()

    def now(self) -> float:
        return self._clock()

    def rang(self, timer_id: int) -> None:
        """The ended timer's alert has started (the app calls this as it rings, or when it is acknowledged
        otherwise): it leaves the state file. Unknown ids are ignored."""
        with self._cond:
            done = self._book.rang(timer_id)
        if done is not None:
            self._save()

    def file_mismatch(self) -> str:
        """An empty string when the state file holds exactly what the service keeps (the running timers, and
        those that ended and have not rung yet), else what differs. For tests and soak runs: call it once the
        changes in flight have returned (a save under way is waited for)."""
        if self._path is None:
            return ""
        with self._save_lock:
            with self._cond:
                kept = self._book.to_json()["timers"]
            try:
                saved = json.loads(self._path.read_text(encoding="utf-8"))["timers"]
            except FileNotFoundError:
                saved = []  # never saved: nothing was ever set
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return f"the file cannot be read: {exc!r}"
        if sorted(saved, key=repr) == sorted(kept, key=repr):
            return ""
        return f"the file holds {saved!r}, the service keeps {kept!r}"

    def set(self, seconds: float, label: str | None = None) -> Timer:
        with self._cond:
            timer = self._book.set(seconds, label, self._clock(), self._wall())
            self._cond.notify_all()
        self._save()
        self._emit(TimerChanged("set", timer.label, round(timer.seconds, 1), round(timer.seconds, 1)))
        return timer

    def cancel(self, label: str | None = None, everything: bool = False) -> list[Timer]:
        with self._cond:
            gone = self._book.cancel(label, everything)
            self._cond.notify_all()
        self._save()
        now = self._clock()
        for t in gone:
            self._emit(TimerChanged("cancelled", t.label, round(t.seconds, 1), round(t.left(now), 1)))
        return gone

    def add_time(self, label: str | None, seconds: float) -> Timer:
        with self._cond:
            timer = self._book.add_time(label, seconds)
            self._cond.notify_all()
        self._save()
        self._emit(TimerChanged("extended", timer.label, round(timer.seconds, 1), round(timer.left(self._clock()), 1)))
        return timer

    # --- the countdown

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = self._clock()
                due = self._book.pop_due(now)
                if not due:
                    nxt = self._book.next_due()
                    self._cond.wait(MAX_WAIT if nxt is None else min(MAX_WAIT, max(0.0, nxt - now)))
                    continue
            self._save()
            for t in due:
                self._emit(TimerChanged("ended", t.label, round(t.seconds, 1), 0.0))
                try:
                    self._on_ring(t, False)
                except Exception:  # the countdown thread must outlive any one ring
                    log.exception("ringing the %s failed", t.name)

    def _save(self) -> None:
        if self._path is None:
            return
        with self._save_lock:  # a later change's copy cannot be overwritten by this (older) one
            with self._cond:
                data = self._book.to_json()
            try:
                store.save(self._path, data)
            except OSError as exc:
                log.error("timers: could not save %s (%s); they keep running until a restart", self._path, exc)
