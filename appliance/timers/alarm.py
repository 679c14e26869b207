"""The ringing of a timer (ports.Alerts): the alarm earcon, the spoken "Your pasta timer is done", again and
again until a press or the wake word stops it, or it stops by itself after ``ring_seconds``.

It runs on its own thread with its own cancel token, so stopping it (the state machine's StopAlert) is
immediate; when it stops by itself it tells the app (``on_stopped("timeout")``), which leaves ALERTING.
Speech is tried once per alert: when synthesis is unreachable the cached phrase stands in, and when there
is none, the earcon alone says it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from appliance.audio.convert import apply_volume
from appliance.audio.earcons import alarm
from appliance.cancel import CancelToken
from appliance.errors import ApplianceError
from appliance.events import Event
from appliance.ports import Speaker, Speech
from appliance.text.piece import Piece
from appliance.timers.schedule import Timer
from appliance.timers.words import ended

log = logging.getLogger(__name__)

#: The phrase cached for when the timer's own sentence cannot be synthesized.
FALLBACK_PHRASE = "timer_done"


class Alarm:
    def __init__(
        self,
        speaker: Speaker,
        speech: Callable[[], Speech | None],
        emit: Callable[[Event], None],
        on_stopped: Callable[[str], None],
        *,
        ring_seconds: float,
        pause_seconds: float = 1.0,
        volume: Callable[[], float] = lambda: 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``speech`` is read when an alert starts (the pipeline is built after the app); ``pause_seconds``
        of quiet between two rounds of the alarm."""
        self._speaker = speaker
        self._speech = speech
        self._emit = emit
        self._on_stopped = on_stopped
        self._ring_seconds = ring_seconds
        self._pause = pause_seconds
        self._volume = volume
        self._clock = clock
        self._lock = threading.Lock()
        self._cancel: CancelToken | None = None
        self.rounds = 0
        """Alarm rounds played by the last alert (for tests and the log)."""

    def start(self, label: str, missed: bool) -> None:
        cancel = CancelToken()
        with self._lock:
            previous, self._cancel = self._cancel, cancel
        if previous is not None:
            previous.cancel("replaced")
        threading.Thread(target=self._ring, args=(label, missed, cancel), name="alarm", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel.cancel("stopped")

    def _ring(self, label: str, missed: bool, cancel: CancelToken) -> None:
        started = self._clock()
        self.rounds = 0
        spoken = False
        try:
            while not cancel.cancelled and self._clock() - started < self._ring_seconds:
                pcm, rate = alarm()
                if not self._speaker.play(apply_volume(pcm, self._volume()), rate, cancel):
                    break
                self.rounds += 1
                if not spoken:
                    spoken = True
                    self._say(Timer(0, label, 0.0, 0.0, 0.0), missed, cancel)
                if cancel.wait(self._pause):
                    break
        except Exception:  # a broken speaker must not leave the app alerting forever
            log.exception("the alarm failed")
        with self._lock:
            mine = self._cancel is cancel
            if mine:
                self._cancel = None
        if mine and not cancel.cancelled:
            self._on_stopped("timeout")

    def _say(self, timer: Timer, missed: bool, cancel: CancelToken) -> None:
        speech = self._speech()
        if speech is None:
            return
        try:
            result = speech.speak(iter([Piece.whole(ended(timer, missed))]), cancel, self._emit)
            if not result.spoken and not cancel.cancelled:
                speech.phrase(FALLBACK_PHRASE, cancel)
        except ApplianceError as exc:
            log.info("the timer's sentence could not be spoken (%s); the phrase stands in", exc.message)
            speech.phrase(FALLBACK_PHRASE, cancel)
