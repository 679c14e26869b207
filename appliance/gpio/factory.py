"""Choosing gpiozero's pin factory: the real one on a Pi, its MockFactory elsewhere."""

from __future__ import annotations

import logging
import os
import warnings
from importlib.metadata import entry_points

from gpiozero import Device
from gpiozero.exc import BadPinFactory, PinFactoryFallback

from appliance.config.types import SettingsError

log = logging.getLogger(__name__)

#: the entry-point group in which gpiozero (and any plug-in) names its pin factories
FACTORY_GROUP = "gpiozero_pin_factories"


def factory_names() -> list[str]:
    """Every pin factory name gpiozero can load here (lgpio, mock, native, pigpio, rpigpio, plug-ins)."""
    return sorted({ep.name for ep in entry_points(group=FACTORY_GROUP)})


def check_factory_name(name: str, setting: str = "gpio.pin_factory") -> None:
    """Raise SettingsError for a name gpiozero does not know (it matches a name as given or lower-cased).
    A typo must stop the start: gpiozero's failure to find it would otherwise leave a Pi on mock pins, its
    LEDs dark and its button dead, with only an info line to say so."""
    known = factory_names()
    if name and name not in known and name.lower() not in known:
        raise SettingsError(
            f"{setting}: unknown pin factory {name!r} (known: {', '.join(known)}; empty for gpiozero's choice)"
        )


def setup_pin_factory(name: str = "") -> str:
    """Select the pin factory; returns its name. ``GPIOZERO_PIN_FACTORY`` wins over ``name``. An unknown name
    in either is a SettingsError.

    Off a Pi, where no real factory loads, falls back to gpiozero's MockFactory with PWM-capable mock
    pins (one log line), so the whole appliance runs the same code with simulated pins."""
    check_factory_name(name)
    check_factory_name(os.environ.get("GPIOZERO_PIN_FACTORY", ""), "GPIOZERO_PIN_FACTORY")
    if Device.pin_factory is not None:
        return type(Device.pin_factory).__name__
    if os.environ.get("GPIOZERO_PIN_FACTORY"):
        name = ""  # gpiozero reads the variable itself
        if os.environ["GPIOZERO_PIN_FACTORY"] == "mock":
            os.environ.setdefault("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")  # the PWM LED needs PWM pins
    if name.lower() == "mock" or (not name and not os.environ.get("GPIOZERO_PIN_FACTORY") and not _on_a_pi()):
        _use_mock()
        if not name:
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
