"""Settings of the fleet metrics: the `[metrics]` section of appliance/config/settings.py, kept beside the code
that reads them (appliance/metrics/)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config.types import Section, SettingsError, check_range

#: Debian's and Raspberry Pi OS's prometheus-node-exporter package reads its textfile collector from here
DEFAULT_PATH = "/var/lib/prometheus/node-exporter/appliance.prom"


@dataclass
class MetricsSettings(Section):
    enabled: bool = True
    """Write the appliance's figures (turns, errors, first-audio latency, wakes, temperature, memory...) for
    node_exporter's textfile collector (docs/fleet-metrics.md). A missing directory is logged once, not an
    error."""
    path: str = DEFAULT_PATH
    """The .prom file, in the directory node_exporter's --collector.textfile.directory names (the Debian
    package's is /var/lib/prometheus/node-exporter; upstream's examples use
    /var/lib/node_exporter/textfile_collector)."""
    interval: float = 15.0
    """Seconds between writes (the file is also written after each turn)."""
    listen: str = ""
    """Also serve /metrics over HTTP at HOST:PORT (e.g. "127.0.0.1:9105"), for a machine without node_exporter;
    "" = off. No authentication: keep it on 127.0.0.1 unless the network is trusted."""

    def validate(self) -> None:
        check_range("metrics.interval", self.interval, 1.0, 3600.0)
        if self.enabled and not self.path.endswith(".prom"):
            raise SettingsError(f"metrics.path: {self.path!r} must end in .prom (node_exporter reads only those)")
        if self.listen:
            listen_address(self.listen)


def listen_address(value: str) -> tuple[str, int]:
    """ "HOST:PORT" (or "[::1]:PORT") -> (host, port); SettingsError when it is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SettingsError(f"metrics.listen: {value!r} is not HOST:PORT (e.g. 127.0.0.1:9105)")
    return host, int(port)
