"""Choosing gpiozero's pin factory: the real one on a Pi, its MockFactory elsewhere."""

from __future__ import annotations

import logging
import os
import warnings

from gpiozero import Device
from gpiozero.exc import BadPinFactory, PinFactoryFallback

log = logging.getLogger(__name__)


def setup_pin_factory(name: str = "") -> str:
    """Select the pin factory; returns its name. ``GPIOZERO_PIN_FACTORY`` wins over ``name``.

    Off a Pi, where no real factory loads, falls back to gpiozero's MockFactory with PWM-capable mock
    pins (one log line), so the whole appliance runs the same code with simulated pins."""
    if Device.pin_factory is not None:
        return type(Device.pin_factory).__name__
    if os.environ.get("GPIOZERO_PIN_FACTORY"):
        name = ""  # gpiozero reads the variable itself
        if os.environ["GPIOZERO_PIN_FACTORY"] == "mock":
            os.environ.setdefault("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")  # the PWM LED needs PWM pins
    if name == "mock" or (not name and not os.environ.get("GPIOZERO_PIN_FACTORY") and not _on_a_pi()):
        _use_mock()
        if name != "mock":
            log.info("gpio: no Raspberry Pi GPIO here; using gpiozero's mock pins (simulation)")
        return "MockFactory"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PinFactoryFallback)
            if name:
                os.environ["GPIOZERO_PIN_FACTORY"] = name  # how gpiozero names a factory
            Device.ensure_pin_factory()
    except (BadPinFactory, ImportError, OSError, RuntimeError) as exc:
        log.info(
            "gpio: pin factory %s unavailable (%s); using gpiozero's mock pins (simulation)", name or "(default)", exc
        )
        _use_mock()
        return "MockFactory"
    return type(Device.pin_factory).__name__


def _use_mock() -> None:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    Device.pin_factory = MockFactory(pin_class=MockPWMPin)


def _on_a_pi() -> bool:
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            with open(path, "rb") as f:
                if b"Raspberry Pi" in f.read():
                    return True
        except OSError:
            continue
    return False


def close_pin_factory() -> None:
    if Device.pin_factory is not None:
        Device.pin_factory.close()
        Device.pin_factory = None
