"""The machine's figures, read when the metrics are written: CPU temperature, throttling (a Pi's under-voltage
and heat), the process's memory. Each is left out where the machine does not have it (no thermal zone in a
container, no ``vcgencmd`` off a Pi): Prometheus treats a missing series as unknown, a 0 would be a lie.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

THERMAL = Path("/sys/class/thermal")
PROC_STATUS = Path("/proc/self/status")

#: ``vcgencmd get_throttled`` bits (Raspberry Pi firmware): the condition now is bit n, "since boot" bit n+16
THROTTLE_BITS: dict[str, int] = {
    "under_voltage": 0,
    "frequency_capped": 1,
    "throttled": 2,
    "soft_temperature_limit": 3,
}


def cpu_temperature(root: Path = THERMAL) -> float | None:
    """Degrees Celsius of the CPU's thermal zone (the one whose type names the CPU, else the first); None
    when there is none."""
    try:
        zones = sorted(root.glob("thermal_zone*"), key=lambda p: int(p.name.removeprefix("thermal_zone") or 0))
    except (OSError, ValueError):
        return None
    chosen: list[Path] = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
        except OSError:
            continue
        if "cpu" in kind or "soc" in kind or "x86_pkg" in kind:
            chosen.insert(0, zone)
        else:
            chosen.append(zone)
    for zone in chosen:
        try:
            return int((zone / "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    return None


class Throttling:
    """``vcgencmd get_throttled``, when the firmware tool is there (a Pi); None elsewhere or when it fails."""

    def __init__(self, command: str | None = "") -> None:
        # "" = look it up once; None = none (tests, machines that are not a Pi)
        self._command = shutil.which("vcgencmd") if command == "" else command
        self._warned = False

    def read(self) -> int | None:
        if not self._command:
            return None
        try:
            out = subprocess.run(
                [self._command, "get_throttled"], capture_output=True, text=True, timeout=2.0, check=True
            ).stdout
            return parse_throttled(out)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            if not self._warned:
                self._warned = True
                log.warning("metrics: `vcgencmd get_throttled` failed (%s): throttling is not reported", exc)
            return None


def parse_throttled(text: str) -> int:
    """``throttled=0x50005`` -> 0x50005."""
    key, _, value = text.strip().partition("=")
    if key != "throttled" or not value:
        raise ValueError(f"not vcgencmd get_throttled output: {text.strip()!r}")
    return int(value, 16)


def memory(status: Path = PROC_STATUS) -> dict[str, float]:
    """This process's resident memory now (``rss``) and at its peak (``peak``), in bytes, as far as known."""
    found: dict[str, float] = {}
    try:
        text = status.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        name = {"VmRSS": "rss", "VmHWM": "peak"}.get(key)
        if name is None:
            continue
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            found[name] = int(parts[0]) * 1024.0
    return found
