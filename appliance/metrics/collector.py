"""The appliance's figures: counters and a histogram fed by the event bus, and the machine's gauges read when
the exposition is made.

:class:`ApplianceMetrics` is an event-bus subscriber. It counts

- turns by outcome (``turn`` events) and errors by kind (``error`` events);
- the end of speech → first audio span of each answered turn (the ``turn`` event's
  ``end_of_speech_to_first_audio_ms``), as a histogram in seconds;
- wakes by source, and *likely false wakes*: a wake word whose turn ended without a question (no speech, or
  an empty transcript). A wake that stopped a ringing timer, or that a press cancelled, is not one;
- cloud fallbacks (the realtime transcription, the speech WebSocket or the model's WebSocket gave way to
  HTTP);
- household arbitration (``arbitration`` events): wake words this device won against its peers (it
  answered), lost (another device answered), and won alone (no peer's claim in the window, or the claim could
  not be sent); and the wake word to the decision, as a histogram.

Nothing here blocks: a subscriber runs on the thread that emitted the event (the app's), so the machine's
own figures (temperature, ``vcgencmd``) are read by :meth:`exposition`, on the writer's thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from appliance import __version__
from appliance.errors import ErrorKind
from appliance.events import (
    Arbitration,
    Button,
    Error,
    Event,
    Info,
    StateChanged,
    Turn,
    TurnOutcome,
    Wake,
    WakeSource,
)
from appliance.metrics import system
from appliance.metrics.exposition import Counter, Family, Histogram, render

#: end of speech → first audio, seconds: a cached phrase is ~0.3 s, a cloud answer ~1 s, a slow one 3 s+
FIRST_AUDIO_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)

#: outcomes of the turn after a wake word that make it a likely false wake
_NO_QUESTION = (TurnOutcome.NO_SPEECH, TurnOutcome.EMPTY_TRANSCRIPT)
#: states in which the wake's turn is over (nothing is listening for its question any more)
_AT_REST = ("idle", "muted", "alerting")
_FALLBACKS = ("stt_fallback", "tts_fallback", "transport_fallback")
ARBITRATION_RESULTS = ("won", "lost", "alone")
#: an arbitration won with one of these reasons had no peer to win against
_ALONE = ("alone", "network")
#: the wake word to the household's decision, seconds (the goal is at most 0.15)
ARBITRATION_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5)


class ApplianceMetrics:
    """Subscribe an instance to the event bus; :meth:`exposition` is the text to write or serve."""

    def __init__(
        self,
        *,
        version: str = __version__,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        thermal: Path = system.THERMAL,
        proc_status: Path = system.PROC_STATUS,
        throttling: system.Throttling | None = None,
    ) -> None:
        self.version = version
        self._clock, self._wall = clock, wall
        self._started = clock()
        self._started_wall = wall()
        self._thermal, self._proc_status = thermal, proc_status
        self._throttling = throttling if throttling is not None else system.Throttling()
        self._lock = threading.Lock()
        self._awaiting_question = False  # a wake word was heard and its turn has not ended yet
        self.turns = Counter("appliance_turns_total", "Turns by outcome.", "outcome", [o.value for o in TurnOutcome])
        self.errors = Counter("appliance_errors_total", "Errors by kind.", "kind", [k.value for k in ErrorKind])
        self.first_audio = Histogram(
            "appliance_first_audio_seconds",
            "End of the user's speech to the first audio of the answer, per turn that reached it.",
            FIRST_AUDIO_BUCKETS,
        )
        self.wakes = Counter(
            "appliance_wakes_total",
            "Wakes by source (the wake word; the button and the control socket start turns without one).",
            "source",
            [WakeSource.WAKE_WORD.value],
        )
        self.false_wakes = Counter(
            "appliance_false_wakes_total",
            "Wake words whose turn ended without a question (no speech, or an empty transcript): likely false.",
        )
        self.fallbacks = Counter(
            "appliance_fallbacks_total",
            "A streaming connection to the cloud failed and the turn went on over HTTP, by which one.",
            "what",
            _FALLBACKS,
        )
        self.arbitration = Counter(
            "appliance_arbitration_total",
            "Household wake arbitration: won (this device answered), lost (another did), alone (no peer claim "
            "arrived in the window, or no household is set up).",
            "result",
            ARBITRATION_RESULTS,
        )
        self.arbitration_time = Histogram(
            "appliance_arbitration_seconds",
            "The wake word to the household's decision of which device answers.",
            ARBITRATION_BUCKETS,
        )

    # --- the event bus

    def __call__(self, event: Event) -> None:
        if isinstance(event, Turn):
            self._turn(event)
        elif isinstance(event, Wake):
            self.wakes.inc(event.source.value)
            if event.source == WakeSource.WAKE_WORD:
                with self._lock:
                    self._awaiting_question = True
        elif isinstance(event, Error):
            self.errors.inc(event.kind.value)
        elif isinstance(event, StateChanged):
            if event.state in _AT_REST:
                with self._lock:
                    self._awaiting_question = False
        elif isinstance(event, Info):
            if event.what in _FALLBACKS:
                self.fallbacks.inc(event.what)
        elif isinstance(event, Button):
            with self._lock:
                self._awaiting_question = False  # a press takes over: the turn that follows is the press's
        elif isinstance(event, Arbitration):
            self.arbitrated("lost" if not event.won else "alone" if event.reason in _ALONE else "won")
            if event.ms >= 0:
                self.arbitration_time.observe(event.ms / 1000.0)
            if not event.won:
                with self._lock:
                    self._awaiting_question = False  # another device takes the question

    def arbitrated(self, result: str) -> None:
        """One arbitration's result: "won", "lost" or "alone"."""
        if result not in ARBITRATION_RESULTS:
            raise ValueError(f"not an arbitration result: {result!r}")
        self.arbitration.inc(result)

    def _turn(self, event: Turn) -> None:
        self.turns.inc(event.outcome.value)
        span = event.timings.get("end_of_speech_to_first_audio_ms")
        if span is not None and math.isfinite(span) and span >= 0:
            self.first_audio.observe(span / 1000.0)
        if event.outcome == TurnOutcome.CANCELLED:
            return  # a barge-in cancels the turn before the wake's own: the wake's question is still to come
        with self._lock:
            awaiting, self._awaiting_question = self._awaiting_question, False
        if awaiting and event.outcome in _NO_QUESTION:
            self.false_wakes.inc()

    # --- the exposition

    def families(self) -> list[Family]:
        out = [
            self.turns.family(),
            self.errors.family(),
            self.first_audio.family(),
            self.wakes.family(),
            self.false_wakes.family(),
            self.fallbacks.family(),
            self.arbitration.family(),
            self.arbitration_time.family(),
        ]
        info = Family("appliance_info", "The appliance's version (always 1).", "gauge")
        info.add(1, version=self.version)
        out.append(info)
        uptime = Family("appliance_uptime_seconds", "Seconds since the appliance started.", "gauge")
        uptime.add(round(self._clock() - self._started, 3))
        out.append(uptime)
        start = Family("appliance_start_time_seconds", "When the appliance started (Unix time).", "gauge")
        start.add(round(self._started_wall, 3))
        out.append(start)
        memory = system.memory(self._proc_status)
        for key, name, help in (
            ("rss", "appliance_memory_rss_bytes", "Resident memory of the appliance's process."),
            ("peak", "appliance_memory_peak_rss_bytes", "The highest resident memory of the process so far."),
        ):
            family = Family(name, help, "gauge")
            if key in memory:
                family.add(memory[key])
            out.append(family)
        temperature = Family("appliance_cpu_temperature_celsius", "The CPU's temperature.", "gauge")
        celsius = system.cpu_temperature(self._thermal)
        if celsius is not None:
            temperature.add(celsius)
        out.append(temperature)
        out.extend(self._throttled())
        return out

    def _throttled(self) -> list[Family]:
        now = Family(
            "appliance_throttled",
            "Raspberry Pi firmware conditions now (vcgencmd get_throttled): 1 = under-voltage, frequency capped, "
            "throttled or at the soft temperature limit.",
            "gauge",
        )
        since = Family("appliance_throttled_since_boot", "The same conditions, 1 if they occurred since boot.", "gauge")
        bits = self._throttling.read()
        if bits is not None:
            for condition, bit in system.THROTTLE_BITS.items():
                now.add((bits >> bit) & 1, condition=condition)
                since.add((bits >> (bit + 16)) & 1, condition=condition)
        return [now, since]

    def exposition(self) -> str:
        return render(self.families())
