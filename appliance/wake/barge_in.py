"""Barge-in by the wake word through the echo canceller's suppressor, without waking on the appliance's own voice.

While the appliance speaks, AEC3's non-linear suppressor takes a user who talks over the answer along with
the echo (docs/wake-word.md: a barge-in scoring 0.999 on the microphone scored 0.001 after the front end).
So while its own sound plays, the wake word also listens to the unprocessed microphone at its normal
threshold, and a second detector listens to what the speaker is playing (the echo reference, on the
microphone's clock). A wake (on the microphone, or on the front end's output when the canceller lets an
echo through) while the reference itself scored the wake word within the last few seconds is the appliance
hearing itself, and is vetoed; any other is the user. The price: a user who says the wake word at the very
moment the appliance says it (or a near miss of it) is not heard.

The reference leads its echo by the output path's latency (the buffer anchors it where the microphone was
when the audio was handed to the speaker), so the reference's score always comes first. Time is audio time:
80 ms per frame fed.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.ports import FRAME_SECONDS, WakeDetector, WakeDetectorWithScores, WakeHit

log = logging.getLogger(__name__)

#: A reference score from which what the speaker plays counts as saying the wake word (or something the
#: model confuses with it): far below the wake threshold, since the echo can score higher than the clean
#: reference it came from.
OWN_VOICE_SCORE = 0.1
#: How long an own-voice score vetoes wakes on the microphone: the echo's lag (up to ~0.5 s through a sound
#: server) plus the model's own smear of a word over ~1 s of frames.
VETO_SECONDS = 2.5


@dataclass
class OwnVoiceVeto:
    """Pure: the recent scores of the reference; whether a microphone wake now is the appliance's own."""

    score: float = OWN_VOICE_SCORE
    seconds: float = VETO_SECONDS

    def __post_init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=max(1, round(self.seconds / FRAME_SECONDS)))

    def heard(self, reference_score: float) -> None:
        """The reference detector's best score on the frame just fed."""
        self._recent.append(reference_score)

    def vetoes(self) -> bool:
        return bool(self._recent) and max(self._recent) >= self.score

    def clear(self) -> None:
        self._recent.clear()


class BargeInDetector:
    """The wake word on the unprocessed microphone while the appliance's sound plays, with the own-voice veto.

    ``microphone`` and ``reference`` are two detectors of the same models and thresholds as the appliance's
    wake word; they run only on the frames fed here (while the appliance makes sound), and forget what they
    heard when a new stretch of sound starts."""

    def __init__(
        self, microphone: WakeDetector, reference: WakeDetectorWithScores, veto: OwnVoiceVeto | None = None
    ) -> None:
        self.microphone = microphone
        self.reference = reference
        self.veto = veto or OwnVoiceVeto()
        self.vetoed = 0  # wakes (on the microphone or the front end's frames) that were its own voice
        self._running = False

    def process(self, raw: np.ndarray, reference: np.ndarray, front_end_hit: WakeHit | None = None) -> WakeHit | None:
        """One 80 ms frame of the microphone before the front end, the reference at the same position, and
        what the wake word heard on the front end's frame: the wake, from either, unless it is the appliance's
        own voice (the veto covers the front end's too, for when the canceller lets an echo through)."""
        if not self._running:
            self.reset()
            self._running = True
        self.reference.process(reference)
        self.veto.heard(max(self.reference.last_scores.values(), default=0.0))
        hit = self.microphone.process(raw) or front_end_hit
        if hit is not None and self.veto.vetoes():
            self.vetoed += 1
            log.info("wake word ignored: the appliance itself was saying it (%.2f)", hit.score)
            return None
        return hit

    def pause(self) -> None:
        """The appliance's sound has stopped: the next frame starts a new stretch."""
        self._running = False

    def reset(self) -> None:
        self.microphone.reset()
        self.reference.reset()
        self.veto.clear()
