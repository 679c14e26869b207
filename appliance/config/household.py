"""The ``[household]`` section: several devices on one LAN that answer a wake word once, and announcements to
all of them (appliance/household/). The group secret is not a setting: it comes from the environment like the
API keys (``APPLIANCE_SECRET__HOUSEHOLD__SECRET`` in /etc/appliance/env), so it is never in the config file
and is scrubbed from every log line and event."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from appliance.config.types import Section, SettingsError, check_range

SECRET = ("household", "secret")
"""Where the group secret is in :class:`appliance.config.secrets.Secrets`."""
SECRET_VARIABLE = "APPLIANCE_SECRET__HOUSEHOLD__SECRET"
MIN_SECRET = 16
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,48}$")


@dataclass
class HouseholdSettings(Section):
    enabled: bool = False
    """Take part in a household: when several devices hear the wake word, only the one that heard it best
    answers; `ctl announce --all` reaches every device. Needs the group secret in the environment
    (APPLIANCE_SECRET__HOUSEHOLD__SECRET, at least 16 characters, the same on every device); without it the
    device answers alone and `appliance doctor` says why."""
    group: str = "home"
    """The household's name: devices answer together only with devices of the same group and secret."""
    device: str = ""
    """This device's name in the household ("" = the host name)."""
    window_ms: int = 120
    """How long a device that heard the wake word waits for the others' claims before it answers (the
    winner's first sound is late by at most this)."""
    heard_too_score: float = 0.1
    """A device whose own wake model has not fired yet, but scored at least this on the words another device
    just claimed, and heard them louder, claims them too (as heard at the same moment): the nearest device
    answers even when its model fires a frame or two after a farther one's. 0 = only a device that woke claims."""
    multicast_group: str = "239.255.77.30"
    """The IPv4 multicast address the devices talk on (organisation-local scope)."""
    port: int = 47730
    interface: str = ""
    """The address of the network interface to use ("" = the default route's; "127.0.0.1" = this machine)."""
    clock_tolerance_s: float = 300.0
    """A datagram sent more than this far from this device's clock is refused (a replay captured earlier);
    the devices' clocks must agree within it (NTP does far better)."""
    simulate_loss: float = 0.0
    """For tests only: drop this share of received datagrams (a packet-loss fault without netem)."""

    def validate(self) -> None:
        check_range("household.window_ms", self.window_ms, 20, 150)
        check_range("household.heard_too_score", self.heard_too_score, 0.0, 1.0)
        check_range("household.port", self.port, 1024, 65535)
        check_range("household.clock_tolerance_s", self.clock_tolerance_s, 5.0, 3600.0)
        check_range("household.simulate_loss", self.simulate_loss, 0.0, 1.0)
        for key, value in (("group", self.group), ("device", self.device)):
            if (value or key == "group") and not _NAME.match(value):
                raise SettingsError(f"household.{key}: 1 to 48 letters, digits, '.', '_' or '-': {value!r}")
        try:
            address = ipaddress.IPv4Address(self.multicast_group)
        except ValueError:
            raise SettingsError(f"household.multicast_group: not an IPv4 address: {self.multicast_group!r}") from None
        if not address.is_multicast:
            raise SettingsError(f"household.multicast_group: {address} is not a multicast address (224.0.0.0/4)")
        if self.interface:
            try:
                ipaddress.IPv4Address(self.interface)
            except ValueError:
                raise SettingsError(f"household.interface: not an IPv4 address: {self.interface!r}") from None


def secret_problem(enabled: bool, secret: str) -> str:
    """Why the household cannot run with this secret ("" = it can)."""
    if not enabled:
        return ""
    if not secret:
        return f"{SECRET_VARIABLE} is not set: the device answers alone (add it to /etc/appliance/env on every device)"
    if len(secret) < MIN_SECRET:
        return f"{SECRET_VARIABLE} is shorter than {MIN_SECRET} characters: the device answers alone"
    return ""
