"""How loud the wake word was on this device: the speech level and its signal-to-noise ratio, from the last
seconds of microphone frames (one power figure per 80 ms frame, so it costs a dot product a frame)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

_FLOOR_DB = -120.0


class LevelMeter:
    """``feed`` every microphone frame; at a wake word ``measure`` gives (level dBFS, SNR dB).

    The level is the loudest ``span`` frames in a row within the last ``look`` frames (the wake word ends just
    before the detector fires); the noise floor is the 20th percentile of the frames before that."""

    def __init__(self, history: int = 40, look: int = 16, span: int = 5) -> None:
        self._powers: deque[float] = deque(maxlen=history)
        self.look, self.span = look, span

    def feed(self, frame: np.ndarray) -> None:
        x = frame.astype(np.float32) / 32768.0
        self._powers.append(float(np.dot(x, x)) / max(1, len(x)))

    def measure(self) -> tuple[float, float]:
        powers = list(self._powers)
        if not powers:
            return _FLOOR_DB, 0.0
        recent = powers[-self.look :]
        span = min(self.span, len(recent))
        level = max(sum(recent[i : i + span]) / span for i in range(len(recent) - span + 1))
        before = powers[: -self.look] or recent
        noise = float(np.percentile(before, 20))
        level_db, noise_db = _db(level), _db(noise)
        return round(level_db, 2), round(level_db - noise_db, 2)

    def reset(self) -> None:
        self._powers.clear()


def _db(power: float) -> float:
    return max(_FLOOR_DB, 10 * math.log10(power)) if power > 0 else _FLOOR_DB
