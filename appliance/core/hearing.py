"""What the microphone's frames mean for the app: the reader that posts them, and each frame turned into a
finished question, a wake word, or nothing (the listener, the live transcript, the wake word, barge-in and the
household's level meter and its "heard it too", in the order the app needs them). The app decides what happens next."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from appliance import ports as p
from appliance.config.settings import Settings
from appliance.core import machine as m
from appliance.core.inbox import Frame
from appliance.core.parts import Ports
from appliance.errors import ApplianceError
from appliance.listening.listener import Listener, Utterance
from appliance.listening.live_transcript import LiveTranscript

if TYPE_CHECKING:
    from appliance.household.service import Household

log = logging.getLogger(__name__)


def read_microphone(ports: Ports, put: Callable[..., None]) -> None:
    """Posts every frame the microphone gives (with its tap when barge-in listens to the raw microphone), then
    ``MicEnded`` after them. Runs on the microphone's thread."""
    error = ""
    mic = ports.microphone
    try:
        if ports.barge_in is not None and isinstance(mic, p.TappedMicrophone):
            for tap in mic.taps():
                put(Frame(tap.clean, tap))
        else:
            for frame in mic.frames():
                put(Frame(frame))
    except ApplianceError as exc:
        error = exc.message
    except Exception as exc:  # a dead microphone ends the process; systemd restarts it
        log.exception("microphone failed")
        error = f"{type(exc).__name__}: {exc}"
    put(m.MicEnded(error), audio=True)  # after the frames it read


class Hearing:
    """One frame at a time, on the app's loop: a finished question (an :class:`Utterance`), a wake word (a
    ``WakeHit``) or None."""

    def __init__(self, settings: Settings, ports: Ports, listener: Listener, live: LiveTranscript) -> None:
        self.settings = settings
        self.ports = ports
        self.listener = listener
        self.live = live
        self._gate = ports.wake if isinstance(ports.wake, p.GatedWake) else None  # held open while it sounds
        self._scores = ports.wake if isinstance(ports.wake, p.WakeDetectorWithScores) else None

    def frame(self, frame: np.ndarray, tap: p.Tap | None, s: m.Snapshot) -> Utterance | p.WakeHit | None:
        ports = self.ports
        if ports.household is not None:
            ports.household.hear(frame)  # how loud a wake word was, for the household's arbitration
        if self.listener.recording:
            self.live.feed(frame)
        utterance = self.listener.process(frame, keep=not s.muted)
        busy = s.state not in (m.State.IDLE, m.State.LISTENING)  # thinking, speaking, alerting: our sound plays
        listening = not (s.muted or self.listener.recording or s.state == m.State.LISTENING)
        barge_in = ports.barge_in if busy and listening and tap is not None else None
        if barge_in is None and ports.barge_in is not None:
            ports.barge_in.pause()
        if utterance is not None:
            return utterance
        if not listening:
            return None  # nothing is analysed while muted; nor for the wake word while recording
        boost = 0.0
        if busy and not ports.echo_cancelled:  # with echo cancellation the normal threshold holds
            if self.settings.wake.while_speaking == "ignore" and s.state != m.State.ALERTING:
                return None
            boost = self.settings.wake.speaking_boost
        if self._gate is not None:  # the gate stays open while the appliance makes sound
            self._gate.forced_open = busy
        hit = ports.wake.process(frame, boost)
        if hit is None and ports.household is not None and s.state == m.State.IDLE and not s.arbitrating:
            hit = self._heard_too(ports.household)
        if barge_in is not None and tap is not None:
            # over its own sound the echo canceller's suppressor damps the user: listen to the raw microphone
            # too; a wake the appliance's own output said is vetoed, on either
            hit = barge_in.process(tap.raw, tap.reference, hit)
        return hit

    def _heard_too(self, household: Household) -> p.WakeHit | None:
        """Another device claimed a wake word this device's model scored too, and heard louder: wake on it."""
        scores = self._scores.last_scores if self._scores is not None else {}
        model, score = max(scores.items(), key=lambda item: item[1], default=("", 0.0))
        return p.WakeHit(model, score) if household.scored(score) else None
