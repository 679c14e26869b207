"""LEDs and the button on gpiozero's own MockFactory with PWM mock pins."""

import threading

import pytest
from gpiozero import Device

from appliance.config.settings import GpioSettings
from appliance.events import Error, Network, StateChanged
from appliance.gpio.button import PressButton
from appliance.gpio.leds import PATTERNS, Leds


def wait_until(predicate, timeout=3.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        done.wait(0.01)
    return predicate()


@pytest.fixture
def leds(mock_pins):
    settings = GpioSettings(rgb_led_pins=[5, 6, 13])
    leds = Leds(settings, error_seconds=0.2)
    yield leds
    leds.close()


def pin(n):
    return Device.pin_factory.pin(n)


def test_each_state_has_a_pattern():
    from appliance.core.machine_io import State

    for name in [s.value for s in State] + ["error"]:  # every state the machine can enter, and the flash
        assert name in PATTERNS, name


def test_a_ringing_timer_blinks_and_pulses_amber(leds):
    leds.show("alerting")
    assert leds.shown == "alerting"
    assert wait_until(lambda: pin(17).state == 1)  # the plain LED blinks
    assert wait_until(lambda: pin(17).state == 0)
    # the RGB LED pulses amber: red well above green, no blue
    assert wait_until(lambda: pin(5).state > 0.5 and 0.05 < pin(6).state < pin(5).state and pin(13).state == 0)


def test_listening_lights_everything_steadily(leds):
    leds.on_event(StateChanged("listening", "idle"))
    assert pin(17).state == 1
    assert pin(18).state == pytest.approx(1.0)
    assert (pin(5).state, pin(6).state, pin(13).state) == (0, 0, 1)  # blue


def test_idle_is_a_faint_glow_and_status_off(leds):
    leds.on_event(StateChanged("listening", "idle"))
    leds.on_event(StateChanged("idle", "listening"))
    assert pin(17).state == 0
    assert pin(18).state == pytest.approx(0.03)


def test_idle_while_offline_is_a_dim_amber_glow_until_the_network_is_back(leds):
    leds.on_event(StateChanged("idle", "listening"))
    leds.on_event(Network(online=False, reason="connection refused"))
    assert leds.shown == "offline"
    assert wait_until(lambda: pin(5).state > pin(6).state > 0 and pin(13).state == 0)  # amber, not blue
    leds.on_event(StateChanged("listening", "idle"))  # a turn: the state's own look
    assert leds.shown == "listening"
    leds.on_event(StateChanged("idle", "speaking"))  # back to idle, still offline
    assert leds.shown == "offline"
    leds.on_event(Network(online=True))
    assert leds.shown == "idle"
    assert (pin(5).state, pin(6).state, pin(13).state) == (0, 0, pytest.approx(0.05))


def test_thinking_blinks_and_pulses(leds):
    leds.show("thinking")
    # the plain LED blinks: it is seen both on and off
    assert wait_until(lambda: pin(17).state == 1)
    assert wait_until(lambda: pin(17).state == 0)
    # the PWM LED pulses through intermediate brightness values
    assert wait_until(lambda: 0.05 < pin(18).state < 0.95)


def test_muted_is_red_and_blinks_slowly(leds):
    leds.show("muted")
    assert (pin(5).state, pin(6).state, pin(13).state) == (1, 0, 0)
    assert pin(18).state == 0


def test_error_flashes_then_returns_to_the_current_state(leds):
    leds.show("speaking")
    leds.on_event(Error("server"))
    assert leds.shown == "error"
    leds.show("idle")  # the state moved on during the flash
    assert leds.shown == "error"
    assert wait_until(lambda: leds.shown == "idle")
    assert pin(17).state == 0


def test_camera_led(leds):
    leds.camera_led(True)
    assert pin(22).state == 1
    leds.camera_led(False)
    assert pin(22).state == 0


def test_close_turns_everything_off(mock_pins):
    leds = Leds(GpioSettings())
    leds.show("listening")
    leds.close()
    assert pin(17).state == 0 and pin(18).state == 0


def test_short_and_long_press(mock_pins):
    presses = []
    got = threading.Event()

    def on_press(kind):
        presses.append(kind)
        got.set()

    button = PressButton(27, long_press_seconds=0.2, on_press=on_press, bounce_time=None)
    try:
        pin(27).drive_low()
        pin(27).drive_high()
        assert presses == ["short"]
        got.clear()
        pin(27).drive_low()
        assert got.wait(3), "the long press was not reported while held"
        pin(27).drive_high()
        assert presses == ["short", "long"]  # releasing after a long press is not also a short press
    finally:
        button.close()


# --- choosing the pin factory ---------------------------------------------------------------------------


@pytest.fixture
def no_factory(monkeypatch):
    """No pin factory chosen yet and none named in the environment, as on a fresh start."""
    from appliance.gpio.factory import close_pin_factory

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    previous, Device.pin_factory = Device.pin_factory, None
    yield
    close_pin_factory()
    Device.pin_factory = previous


@pytest.mark.parametrize("name", ["lgpi0", "rpi.gpio", "mocks"])
def test_a_typo_in_the_pin_factory_is_a_settings_error(no_factory, name):
    from appliance.config.settings import SettingsError
    from appliance.gpio.factory import setup_pin_factory

    with pytest.raises(SettingsError, match=rf"gpio.pin_factory: unknown pin factory '{name}' \(known: lgpio, mock, "):
        setup_pin_factory(name)
    assert Device.pin_factory is None  # not quietly on mock pins


def test_a_typo_in_the_environment_is_a_settings_error(no_factory, monkeypatch):
    from appliance.config.settings import SettingsError
    from appliance.gpio.factory import setup_pin_factory

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mok")
    with pytest.raises(SettingsError, match="GPIOZERO_PIN_FACTORY: unknown pin factory 'mok'"):
        setup_pin_factory()
    assert Device.pin_factory is None


@pytest.mark.parametrize("name", ["", "mock", "MOCK"])
def test_known_names_and_the_default_still_work_off_a_pi(no_factory, name):
    from appliance.gpio.factory import setup_pin_factory

    assert setup_pin_factory(name) == "MockFactory"  # no Pi here: gpiozero's mock pins, as before
