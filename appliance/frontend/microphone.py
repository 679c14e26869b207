"""The microphone as everything that listens hears it: every 80 ms frame through the front end first."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from appliance.frontend.base import FrontEnd
from appliance.ports import Microphone, Tap


class FrontEndMicrophone:
    """ports.Microphone and ports.TappedMicrophone: ``inner``'s frames after echo cancellation, noise
    suppression, high-pass, gain (``taps()``: with the raw frame and the echo reference beside each)."""

    def __init__(self, inner: Microphone, frontend: FrontEnd) -> None:
        self.inner = inner
        self.frontend = frontend

    def frames(self) -> Iterator[np.ndarray]:
        for tap in self.taps():
            yield tap.clean

    def taps(self) -> Iterator[Tap]:
        for frame in self.inner.frames():
            clean = self.frontend.process(frame)
            yield Tap(clean, frame, self.frontend.last_reference)

    def close(self) -> None:
        self.inner.close()
