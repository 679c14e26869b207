"""Whether the cloud can be reached, and noticing when it can again without a turn failing first.

A turn that cannot reach the cloud (connection refused, a DNS failure, a timeout on its first request, a socket
that cannot open) says so with :meth:`Connectivity.unreachable`; from then on the appliance is offline: the
next questions go straight to the recogniser on the device instead of waiting for the network to fail again.
While offline a cheap probe (a TCP connection to the cloud's host, nothing sent) runs with a growing pause
(``probe_seconds`` doubling up to ``probe_max_seconds``); the first that connects puts the appliance back
online, silently. Each change is one ``network`` event (the LEDs, ``ctl status`` and the log follow it).

The schedule (:class:`Backoff`) is pure and takes the time as input; the probe thread is the only I/O.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Probe = Callable[[], bool]


@dataclass
class Backoff:
    """When the next probe is due: ``first`` seconds after going offline, then doubling up to ``most``."""

    first: float = 2.0
    most: float = 60.0
    _pause: float = 0.0
    _due: float = 0.0

    def start(self, now: float) -> None:
        self._pause = self.first
        self._due = now + self._pause

    def due(self, now: float) -> bool:
        return now >= self._due

    def failed(self, now: float) -> None:
        self._pause = min(self._pause * 2, self.most)
        self._due = now + self._pause

    def wait(self, now: float) -> float:
        return max(0.0, self._due - now)


def tcp_probe(urls: Sequence[str], timeout: float = 3.0) -> Probe:
    """A probe that connects to the host of each URL (its port, or 443/80) and succeeds if any answers."""
    targets = []
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
            targets.append((parts.hostname, port))

    def probe() -> bool:
        for host, port in targets:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    return True
            except OSError:
                continue
        return False

    return probe


class Connectivity:
    """Online or offline; ``on_change(online)`` is called on each change (from the caller's or the probe's
    thread). ``clock`` and ``sleep`` are for tests; the probe thread starts only when the appliance goes
    offline and ends when it is back."""

    def __init__(
        self,
        probe: Probe,
        on_change: Callable[[bool], None],
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._on_change = on_change
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._lock = threading.Lock()
        self._online = True
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def online(self) -> bool:
        return self._online

    def unreachable(self, why: str) -> None:
        """A turn could not reach the cloud: offline now (once), and the probe starts."""
        with self._lock:
            if not self._online or self._closed:
                return
            self._online = False
            self._backoff.start(self._clock())
            self._thread = threading.Thread(target=self._run, name="connectivity", daemon=True)
            self._thread.start()
        log.warning("offline: %s; local commands still work, and the network is probed until it is back", why)
        self._on_change(False)

    def reachable(self) -> None:
        """The cloud answered (a turn went through): online now."""
        with self._lock:
            if self._online:
                return
            self._online = True
            self._wake.set()
        log.info("online again")
        self._on_change(True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._online or self._closed:
                    self._wake.clear()
                    return
                wait = self._backoff.wait(self._clock())
            if self._wake.wait(wait):
                continue  # online again, or closing: checked above
            try:
                ok = self._probe()
            except Exception:  # a probe is a guess, never a crash
                log.exception("the network probe failed")
                ok = False
            if ok:
                self.reachable()
            else:
                with self._lock:
                    self._backoff.failed(self._clock())
