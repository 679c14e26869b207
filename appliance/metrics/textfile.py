"""The metrics as a file for node_exporter's textfile collector, written atomically every ``interval`` seconds
and after each turn.

Why a file and not an HTTP endpoint of our own: a Pi fleet already runs node_exporter (it is how the
machines' CPU, disk and network are collected), and its textfile collector exports every ``*.prom`` file of
one directory with the machine's own metrics. The appliance then opens no port and runs no listener (nothing
new to firewall, authenticate or keep alive; the systemd unit's sandbox stays as it is but for one writable
directory), a scrape never waits on the appliance's threads, and the figures survive a restart of the
appliance until it writes them again (node_exporter's ``node_textfile_mtime_seconds`` tells how old they
are). ``scripts/deploy status`` reads the same file over ssh. A local endpoint is there too for a machine
without node_exporter (``metrics.listen``, off by default: :mod:`appliance.metrics.http`).

Atomic: the text goes to a hidden temporary file in the same directory (node_exporter reads only names
ending in ``.prom``), which is renamed over the target, so a scrape sees the old file or the new one, never
half of one. Not fsync'ed: an SD card is spared a flush every few seconds, and a file lost to a power cut is
written again within ``interval``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from appliance.events import Event, Turn

log = logging.getLogger(__name__)


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text``: a reader sees the old content or the new, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)  # node_exporter runs as its own user: the file is world-readable (mkstemp: 0600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class TextfileWriter:
    """Writes ``render()`` to ``path`` every ``interval`` seconds and soon after each turn, on its own thread.

    Subscribe it to the event bus (it only notes that a turn ended: the file is written on its thread, never
    on the emitter's). A directory that is missing (logged once, as information) or not writable (a warning)
    is tried again each interval (node_exporter may be installed later); the appliance runs on either way."""

    def __init__(self, path: Path, render: Callable[[], str], interval: float = 15.0) -> None:
        self.path = Path(path)
        self._render = render
        self._interval = interval
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.writes = 0  # files written so far (tests wait on it through written())
        self._written = threading.Condition()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Turn):
            self._due.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metrics-writer", daemon=True)
        self._thread.start()

    def write(self) -> bool:
        """Write the file now; False (and one log line per run of failures) when it cannot be written."""
        try:
            write_atomically(self.path, self._render())
        except OSError as exc:
            if not self._failing:
                self._failing = True
                if isinstance(exc, FileNotFoundError) and not self.path.parent.exists():
                    # no node_exporter on this machine (yet): worth a line, not a warning
                    log.info("metrics: %s does not exist: no metrics file until it does", self.path.parent)
                else:
                    log.warning(
                        "metrics: cannot write %s (%s): node_exporter's textfile collector gets no figures until "
                        "it can (see docs/fleet-metrics.md)",
                        self.path,
                        exc.strerror or exc,
                    )
            return False
        if self._failing:
            self._failing = False
            log.info("metrics: writing %s again", self.path)
        with self._written:
            self.writes += 1
            self._written.notify_all()
        return True

    def written(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` files have been written (tests)."""
        with self._written:
            return self._written.wait_for(lambda: self.writes >= count, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.write()
            except Exception:
                log.exception("metrics: writing %s failed", self.path)
            self._due.wait(self._interval)
            self._due.clear()

    def close(self) -> None:
        """Stop the thread after one last write (the figures of the last turn)."""
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
            self.write()
