"""A ring of the most recent microphone frames, so a question keeps the audio just before it began."""

from __future__ import annotations

from collections import deque

import numpy as np

from appliance.ports import FRAME_SECONDS


class Preroll:
    def __init__(self, seconds: float) -> None:
        self._frames: deque[np.ndarray] = deque(maxlen=max(0, round(seconds / FRAME_SECONDS)))

    def push(self, frame: np.ndarray) -> None:
        if self._frames.maxlen:
            self._frames.append(frame)

    def take(self) -> list[np.ndarray]:
        """The kept frames, oldest first; the ring is emptied."""
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def clear(self) -> None:
        self._frames.clear()
