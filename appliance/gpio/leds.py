"""LEDs that show the appliance's state, on gpiozero (a plain LED, a PWM LED, an RGB LED: any of them).

The patterns are one table of data; :class:`Leds` applies them and follows the event stream.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from gpiozero import LED, PWMLED, RGBLED

from appliance.config.settings import GpioSettings
from appliance.events import Error, Event, Network, StateChanged

log = logging.getLogger(__name__)

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Look:
    """How one pattern looks on each kind of LED.

    status: "off", "on", "blink" (on/off seconds below), "slow_blink".
    pwm: a steady brightness, or "pulse" (fade in/out seconds) when ``pwm_pulse`` is set.
    rgb: a colour, pulsing when ``rgb_pulse`` is set."""

    status: str
    pwm: float
    pwm_pulse: float = 0.0
    rgb: Color = (0.0, 0.0, 0.0)
    rgb_pulse: float = 0.0
    blink_on: float = 0.15
    blink_off: float = 0.15


PATTERNS: dict[str, Look] = {
    # a faint glow: alive, waiting for the wake word
    "idle": Look(status="off", pwm=0.03, rgb=(0.0, 0.0, 0.05)),
    # bright and steady: I hear you
    "listening": Look(status="on", pwm=1.0, rgb=(0.0, 0.0, 1.0)),
    # quick pulse: working on it
    "thinking": Look(status="blink", pwm=0.0, pwm_pulse=0.4, rgb=(0.0, 0.6, 1.0), rgb_pulse=0.4),
    # slow pulse while talking
    "speaking": Look(status="on", pwm=0.0, pwm_pulse=1.0, rgb=(0.0, 1.0, 0.2), rgb_pulse=1.0),
    # the microphone is off: a short blink every two seconds, red
    "muted": Look(status="slow_blink", pwm=0.0, rgb=(1.0, 0.0, 0.0), blink_on=0.1, blink_off=1.9),
    # a timer is ringing: amber, blinking and pulsing quickly until a press or the wake word stops it
    "alerting": Look(
        status="blink", pwm=0.0, pwm_pulse=0.25, rgb=(1.0, 0.45, 0.0), rgb_pulse=0.25, blink_on=0.25, blink_off=0.25
    ),
    # idle, but the cloud cannot be reached (offline: local commands only): a dim amber glow, a blink every 4 s
    "offline": Look(status="slow_blink", pwm=0.03, rgb=(0.25, 0.1, 0.0), blink_on=0.1, blink_off=3.9),
    # something went wrong: fast red flashing for a moment
    "error": Look(
        status="blink", pwm=0.0, pwm_pulse=0.1, rgb=(1.0, 0.0, 0.0), rgb_pulse=0.1, blink_on=0.1, blink_off=0.1
    ),
}

ERROR_SECONDS = 1.5


class Leds:
    """Drives the configured LEDs. ``show`` never blocks (gpiozero animates in background threads)."""

    def __init__(self, settings: GpioSettings, error_seconds: float = ERROR_SECONDS) -> None:
        self.status = LED(settings.status_led_pin) if settings.status_led_pin is not None else None
        self.pwm = PWMLED(settings.pwm_led_pin) if settings.pwm_led_pin is not None else None
        self.rgb = RGBLED(*settings.rgb_led_pins) if settings.rgb_led_pins else None
        self.camera = LED(settings.camera_led_pin) if settings.camera_led_pin is not None else None
        self.error_seconds = error_seconds
        self._lock = threading.Lock()
        self._current = "idle"  # the pattern the state asks for (shown again after an error flash)
        self._offline = False  # idle shows as "offline" while the cloud cannot be reached
        self._shown = ""
        self._error_timer: threading.Timer | None = None
        self._closed = False

    @property
    def shown(self) -> str:
        return self._shown

    def show(self, pattern: str) -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unknown LED pattern {pattern!r}")
        with self._lock:
            if self._closed:
                return
            if pattern == "idle" and self._offline:
                pattern = "offline"
            if pattern == "error":
                if self._error_timer is not None:
                    self._error_timer.cancel()
                self._error_timer = threading.Timer(self.error_seconds, self._end_error)
                self._error_timer.daemon = True
                self._error_timer.start()
            else:
                self._current = pattern
                if self._error_timer is not None:
                    return  # shown when the error flash ends
            self._apply(pattern)

    def _end_error(self) -> None:
        with self._lock:
            self._error_timer = None
            if not self._closed:
                self._apply(self._current)

    def _apply(self, pattern: str) -> None:
        look = PATTERNS[pattern]
        self._shown = pattern
        if self.status is not None:
            if look.status == "on":
                self.status.on()
            elif look.status == "off":
                self.status.off()
            else:
                self.status.blink(on_time=look.blink_on, off_time=look.blink_off)
        if self.pwm is not None:
            if look.pwm_pulse:
                self.pwm.pulse(fade_in_time=look.pwm_pulse, fade_out_time=look.pwm_pulse)
            else:
                self.pwm.value = look.pwm
        if self.rgb is not None:
            if look.rgb_pulse:
                self.rgb.pulse(
                    fade_in_time=look.rgb_pulse, fade_out_time=look.rgb_pulse, on_color=look.rgb, off_color=(0, 0, 0)
                )
            else:
                self.rgb.color = look.rgb

    def camera_led(self, on: bool) -> None:
        if self.camera is not None and not self._closed:
            self.camera.value = on

    def on_event(self, event: Event) -> None:
        """Subscribe this to the event bus: LEDs follow the state and flash on errors."""
        if isinstance(event, StateChanged):
            self.show(event.state)
        elif isinstance(event, Network):
            with self._lock:
                self._offline = not event.online
                idle = self._current in ("idle", "offline")
            if idle:
                self.show("idle")
        elif isinstance(event, Error):
            self.show("error")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._error_timer is not None:
                self._error_timer.cancel()
                self._error_timer = None
        for led in (self.status, self.pwm, self.rgb, self.camera):
            if led is not None:
                led.off()
                led.close()
