"""The microphone as everything that listens hears it: every 80 ms frame through the front end first."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..ports import Microphone
from .base import FrontEnd


class FrontEndMicrophone:
    """ports.Microphone: ``inner``'s frames after echo cancellation, noise suppression, high-pass, gain."""

    def __init__(self, inner: Microphone, frontend: FrontEnd) -> None:
        self.inner = inner
        self.frontend = frontend

    def frames(self) -> Iterator[np.ndarray]:
        for frame in self.inner.frames():
            yield self.frontend.process(frame)

    def close(self) -> None:
        self.inner.close()
