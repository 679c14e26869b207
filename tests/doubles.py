"""Small implementations of the appliance's own ports and signal helpers, shared by several tests."""

from __future__ import annotations

import numpy as np

from appliance import ports as p


class Controls(p.Controls):
    """ports.Controls for tools; only camera_allowed matters to the camera tests."""

    def __init__(self, allowed: bool = True, timers: p.Timers | None = None) -> None:
        self.allowed = allowed
        self._timers = timers

    def volume(self) -> float:
        return 0.5

    def set_volume(self, value: float) -> float:
        return value

    def stop_turn(self) -> None:
        pass

    def reset_conversation(self) -> None:
        pass

    def camera_allowed(self) -> bool:
        return self.allowed

    def timers(self) -> p.Timers | None:
        return self._timers


def tone(freq: float, seconds: float, rate: int, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])
