"""The camera port's adapters: picamera2 on a Pi, image files and folders for headless runs and demos.

Importing this package never imports picamera2: :func:`make_camera` loads it only when the real camera
is asked for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.config.settings import CameraSettings
from appliance.errors import CameraError
from appliance.ports import Camera

log = logging.getLogger(__name__)

__all__ = ["CameraError", "make_camera"]


def make_camera(settings: CameraSettings, source: str | None) -> Camera | None:
    """The camera for ``source``: None = the Pi camera, a .jpg/.jpeg file, or a folder of them.

    Returns None when the Pi camera cannot exist here (picamera2 is not installed: not a Pi), with one
    log line; the describe_image tool then tells the user there is no camera. A Pi whose camera is
    missing or busy still gets the adapter: it is warmed up in the background and every capture reports
    the problem clearly (and retries, so a camera freed by another program starts working).
    A bad ``source`` (no such file, not a JPEG, empty folder) raises CameraError: a command-line mistake
    is better reported at start than when the user first asks what the appliance sees."""
    if source is None:
        from appliance.camera.picamera2 import Picamera2Camera

        try:
            camera = Picamera2Camera(settings)
        except CameraError as exc:
            log.info("camera: %s; the describe_image tool will say there is no camera", exc.message)
            return None
        camera.warm_up()
        return camera
    from appliance.camera.files import DirectoryCamera, FileCamera

    path = Path(source).expanduser()
    if not path.exists():
        raise CameraError(f"{path}: no such image file or folder")
    if path.is_dir():
        return DirectoryCamera(path, max_bytes=settings.max_bytes)
    return FileCamera(path, max_bytes=settings.max_bytes)
