"""The button: a short press talks (or stops), a long press toggles the microphone mute."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gpiozero import Button

log = logging.getLogger(__name__)


class PressButton:
    """Turns gpiozero's press/hold/release callbacks into "short" and "long" presses.

    A long press fires as soon as the button has been held ``long_press_seconds`` (the user gets feedback
    without letting go); its release is then not a short press."""

    def __init__(
        self, pin: int, long_press_seconds: float, on_press: Callable[[str], None], bounce_time: float | None = 0.03
    ) -> None:
        self._on_press = on_press
        self._held = False
        self._lock = threading.Lock()
        self.button = Button(pin, pull_up=True, bounce_time=bounce_time, hold_time=long_press_seconds)
        self.button.when_pressed = self._pressed
        self.button.when_held = self._long
        self.button.when_released = self._released

    def _pressed(self) -> None:
        with self._lock:
            self._held = False

    def _long(self) -> None:
        with self._lock:
            self._held = True
        self._on_press("long")

    def _released(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if not held:
            self._on_press("short")

    def close(self) -> None:
        self.button.close()
