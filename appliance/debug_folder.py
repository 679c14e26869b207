"""The debugging folder (``debug.keep_audio``): the recorded questions and the camera's frames, kept on disk.

A debugging aid must never cost an answer: a folder that cannot be written (read-only, full, not a folder)
gives one log line per file, no traceback, and the turn goes on. Nor may it fill the disk itself: before each
file it keeps, the oldest of its own files go until the folder holds at most ``debug.keep_files`` files and
``debug.keep_mb`` megabytes with the new one (issue #31). Only its own files (``question-*.wav``,
``camera-*.jpg``) are ever deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: the names this folder writes, and the only ones it deletes
PATTERNS = ("question-*.wav", "camera-*.jpg")

_lock = threading.Lock()  # the transcriber and the camera tool keep files from different threads


class DebugFolder:
    def __init__(self, directory: str | Path, keep_files: int, keep_mb: float) -> None:
        self.directory = Path(directory)
        self.keep_files = keep_files
        self.keep_bytes = int(keep_mb * 1_000_000)

    def keep(self, prefix: str, suffix: str, data: bytes) -> Path | None:
        """Write ``data`` as ``<prefix>-<local time to the ms><suffix>``; the path, or None (logged) if it could
        not be kept."""
        now = time.time()
        stamp = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1000) % 1000:03d}"
        path = self.directory / f"{prefix}-{stamp}{suffix}"
        for n in range(1, 100):  # two files within the same millisecond
            if not path.exists():
                break
            path = self.directory / f"{prefix}-{stamp}-{n}{suffix}"
        if len(data) > self.keep_bytes:
            log.warning("debug: %s not kept: %d bytes is more than debug.keep_mb", path.name, len(data))
            return None
        with _lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._make_room(len(data))
                self._write(path, data)
            except OSError as exc:
                log.warning("debug: cannot keep %s in %s: %s", path.name, self.directory, exc.strerror or exc)
                return None
        return path

    def files(self) -> list[tuple[Path, os.stat_result]]:
        """Its own files, oldest first."""
        found = []
        for pattern in PATTERNS:
            for path in self.directory.glob(pattern):
                try:
                    found.append((path, path.stat()))
                except FileNotFoundError:
                    continue
        return sorted(found, key=lambda item: (item[1].st_mtime, item[0].name))

    def _make_room(self, size: int) -> None:
        files = self.files()
        total = sum(stat.st_size for _path, stat in files)
        while files and (len(files) + 1 > self.keep_files or total + size > self.keep_bytes):
            path, stat = files.pop(0)
            path.unlink(missing_ok=True)
            total -= stat.st_size

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Write the whole file or none of it (a full disk leaves no half-written file behind)."""
        partial = path.with_name(f".{path.name}.part")
        try:
            partial.write_bytes(data)
            partial.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise
