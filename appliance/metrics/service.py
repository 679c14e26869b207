"""The metrics started from the `[metrics]` settings: the collector subscribed to the event bus, the textfile
writer, and the local endpoint when one is asked for."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from appliance.config.metrics import MetricsSettings, listen_address
from appliance.events import EventBus
from appliance.metrics.collector import ApplianceMetrics

log = logging.getLogger(__name__)


def start_metrics(
    settings: MetricsSettings, bus: EventBus, metrics: ApplianceMetrics | None = None
) -> tuple[ApplianceMetrics, Callable[[], None]]:
    """Subscribe the counters to ``bus`` and start what publishes them; returns them and the closer (which
    writes the file one last time). A port in use is logged and the rest runs on: metrics never stop the
    appliance."""
    metrics = metrics if metrics is not None else ApplianceMetrics()
    bus.subscribe(metrics)
    closers: list[Callable[[], None]] = []
    if settings.enabled:
        from appliance.metrics.textfile import TextfileWriter

        writer = TextfileWriter(Path(settings.path), metrics.exposition, settings.interval)
        bus.subscribe(writer)  # after the counters: the turn is counted before the write it asks for
        writer.start()
        closers.append(writer.close)
    if settings.listen:
        from appliance.metrics.http import MetricsServer

        host, port = listen_address(settings.listen)
        try:
            server = MetricsServer(host, port, metrics.exposition)
        except OSError as exc:
            log.error("metrics: cannot listen on %s (%s): no /metrics endpoint", settings.listen, exc.strerror or exc)
        else:
            server.start()
            closers.append(server.close)

    def close() -> None:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:
                log.debug("metrics: closing failed", exc_info=True)

    return metrics, close
