"""The timers' state file: written atomically (temp file, fsync, rename, fsync of the directory), so a
power cut leaves either the old or the new file; read tolerantly, so a damaged file only loses timers."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def save(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON. Raises OSError (the caller reports it; timers keep running)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: Path) -> Any:
    """The saved data, or None when there is none or it is unreadable (logged, never raised). Stale temp
    files from an interrupted save are removed."""
    for stale in path.parent.glob(f".{path.name}.*.tmp") if path.parent.is_dir() else []:
        try:
            stale.unlink()
        except OSError:
            log.warning("could not remove the stale file %s", stale)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        log.warning("timers: ignoring the damaged state file %s (%s)", path, exc)
        return None
