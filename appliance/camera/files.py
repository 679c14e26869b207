"""Cameras that return image files: for headless runs, tests and demos (``--camera PATH``).

They are full Camera implementations: the same checks (JPEG, size limit) and errors as the real camera,
so the describe_image tool cannot tell them apart.

Only JPEG files (.jpg, .jpeg) are accepted, as they are: the project has no imaging library (Pillow is
not a dependency) to convert other formats, and the model is sent exactly the bytes of the file. Anything
else is a clear CameraError naming the file (convert it first, e.g. ``convert photo.png photo.jpg``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from appliance.camera.jpeg import EXTENSIONS, check_jpeg
from appliance.errors import CameraError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4_000_000


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:  # refuse before reading a huge file into memory
            raise CameraError(f"image too large: {path} is {size} bytes (the limit is {max_bytes})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise CameraError(f"{path}: no such image file") from None
    except PermissionError:
        raise CameraError(f"{path}: cannot read the image (permission denied)") from None
    except IsADirectoryError:
        raise CameraError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise CameraError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    return check_jpeg(data, max_bytes, source=str(path))


def _require_jpeg_name(path: Path) -> None:
    if path.suffix.lower() not in EXTENSIONS:
        raise CameraError(
            f"{path}: only JPEG images (.jpg, .jpeg) are supported "
            f"(convert it first, e.g. `convert {path.name} {path.stem}.jpg`)"
        )


class FileCamera:
    """Returns the same JPEG file on every capture (read each time, so it can be replaced while running)."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        _require_jpeg_name(self.path)
        if not self.path.is_file():
            raise CameraError(f"{self.path}: no such image file")

    def capture_jpeg(self) -> bytes:
        return _read(self.path, self.max_bytes)

    def close(self) -> None:
        pass


class DirectoryCamera:
    """Cycles through the JPEG files of a folder in sorted name order, one per capture, then wraps around.

    The folder is listed again on every capture, so images can be added during a demo. Files that are not
    .jpg/.jpeg are skipped (with one log line)."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._index = 0
        self._lock = threading.Lock()
        self._skipped_logged = False
        if not self.path.is_dir():
            raise CameraError(f"{self.path}: no such folder")
        if not self.images():
            raise CameraError(f"{self.path}: the folder holds no .jpg or .jpeg images")

    def images(self) -> list[Path]:
        try:
            entries = sorted(p for p in self.path.iterdir() if p.is_file())
        except OSError as exc:
            raise CameraError(f"{self.path}: cannot list the folder ({exc.strerror or exc})") from None
        images = [p for p in entries if p.suffix.lower() in EXTENSIONS]
        skipped = [p.name for p in entries if p.suffix.lower() not in EXTENSIONS and not p.name.startswith(".")]
        if skipped and not self._skipped_logged:
            self._skipped_logged = True
            log.info("camera: skipping files in %s that are not JPEG: %s", self.path, ", ".join(skipped[:5]))
        return images

    def capture_jpeg(self) -> bytes:
        with self._lock:
            images = self.images()
            if not images:
                raise CameraError(f"{self.path}: the folder holds no .jpg or .jpeg images")
            path = images[self._index % len(images)]
            self._index = (self._index + 1) % len(images)
        log.debug("camera: returning %s", path)
        return _read(path, self.max_bytes)

    def close(self) -> None:
        pass
