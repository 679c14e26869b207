"""A cheap energy gate in front of the wake word model, so a quiet room costs almost nothing.

openWakeWord looks at ~1.3 s of embeddings (on ~0.8 s of mel frames) and keeps them in internal buffers,
so the model cannot simply be switched on at the first loud frame: its buffers would hold stale audio and a
wake word said at speech onset would be scored half-heard. While the gate is closed the frames are kept in
a ring; when it opens, the ring is fed to the model first (its buffers are then exactly what continuous
processing would have left there), then the live frames. The model's score only peaks at the end of the
wake word, so the gate has the whole word to open in.

Time is audio time (80 ms per frame): the gate behaves the same on a live microphone and on a WAV file.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.ports import FRAME_SECONDS, WakeDetector, WakeDetectorWithScores, WakeHit


def frame_db(frame: np.ndarray) -> float:
    """RMS level of the first difference (a pre-emphasis), in dBFS (-120 for digital silence).

    Room noise is mostly low-frequency (pink, hum, traffic), and its plain RMS swings by ±4 dB from frame
    to frame; its first difference varies by well under 1 dB, so a small margin over the floor suffices
    and speech's consonants stand out."""
    x = frame.astype(np.float64)
    energy = float(np.mean(np.square(np.diff(x))))
    return 10.0 * float(np.log10(energy / 32768.0**2)) if energy > 0 else -120.0


@dataclass
class GateSettings:
    margin_db: float = 4.0
    """Opens when a frame is this much louder than the noise floor it has learnt..."""
    floor_db: float = -62.0
    """...and louder than this absolute level (a silent room's microphone self-noise, pre-emphasized)."""
    hangover_seconds: float = 2.0
    """Stays open this long after the last loud frame (the tail of a word, the pause before "Jarvis")."""
    buffer_seconds: float = 2.0
    """Audio kept while closed and replayed to the model when it opens (≥ the model's ~1.5 s context)."""
    floor_rise_db_per_s: float = 1.5
    """How fast the learnt noise floor may rise: slow, so speech does not become floor."""
    floor_fall: float = 0.3
    """Share of the way the floor moves down towards a quieter frame, per frame (one quiet frame in a noisy
    room must not drag it to the bottom)."""


class EnergyGate:
    """Pure: ``update(frame)`` says whether the wake word should hear this frame."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.settings = settings or GateSettings()
        self.noise_db: float | None = None  # learnt from the first frame on
        self._open_left = 0

    def update(self, frame: np.ndarray) -> bool:
        s = self.settings
        level = frame_db(frame)
        if self.noise_db is None:
            self.noise_db = level
        loud = level > max(self.noise_db + s.margin_db, s.floor_db)
        hangover = self._open_left > 0
        if loud:
            self._open_left = round(s.hangover_seconds / FRAME_SECONDS)  # frames, so no float drift
        else:
            self._open_left = max(0, self._open_left - 1)
        # the floor follows quiet frames down quickly and creeps up slowly, so steady noise (a fan, traffic)
        # keeps the gate closed after a few seconds while speech, which comes and goes, does not
        if level < self.noise_db:
            self.noise_db += (level - self.noise_db) * s.floor_fall
        else:
            self.noise_db = min(level, self.noise_db + s.floor_rise_db_per_s * FRAME_SECONDS)
        return loud or hangover

    def reset(self) -> None:
        """Forget the room's noise floor too (a new room, a new microphone)."""
        self.noise_db = None
        self._open_left = 0


class GatedWakeDetector:
    """ports.WakeDetector around any detector: the model runs only while the gate is open (plus the replay
    of the buffered audio when it opens). ``forced_open`` keeps it running regardless (while the appliance
    speaks, when barge-in must never wait for a gate)."""

    def __init__(self, inner: WakeDetector, settings: GateSettings | None = None) -> None:
        self.inner = inner
        self._scored = inner if isinstance(inner, WakeDetectorWithScores) else None
        self.gate = EnergyGate(settings)
        keep = max(1, round(self.gate.settings.buffer_seconds / FRAME_SECONDS))
        self._ring: deque[np.ndarray] = deque(maxlen=keep)
        self._open = False
        self.forced_open = False
        self.frames_seen = 0
        self.frames_run = 0  # frames the inner model processed: the gate's saving is 1 - run/seen

    @property
    def is_open(self) -> bool:
        return self._open

    def process(self, frame: np.ndarray, threshold_boost: float = 0.0) -> WakeHit | None:
        self.frames_seen += 1
        wanted = self.gate.update(frame) or self.forced_open
        if not wanted:
            self._open = False
            self._ring.append(frame)
            return None
        best: WakeHit | None = None
        if not self._open:
            self._open = True
            while self._ring:  # the model catches up on what it did not hear
                best = _better(best, self._run(self._ring.popleft(), threshold_boost))
        return _better(best, self._run(frame, threshold_boost))

    def _run(self, frame: np.ndarray, threshold_boost: float) -> WakeHit | None:
        self.frames_run += 1
        return self.inner.process(frame, threshold_boost)

    @property
    def last_scores(self) -> dict[str, float]:
        """The wrapped model's scores on the last frame; {} when the gate kept it asleep (or it keeps none)."""
        return self._scored.last_scores if self._open and self._scored is not None else {}

    def reset(self) -> None:
        """After a recording: the model and the ring forget the audio; the gate keeps the room's noise floor."""
        self.inner.reset()
        self._ring.clear()
        self._open = False


def _better(a: WakeHit | None, b: WakeHit | None) -> WakeHit | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.score > a.score else a
