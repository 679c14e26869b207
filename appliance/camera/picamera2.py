"""The Raspberry Pi camera through picamera2, imported lazily.

picamera2 exists only on a Pi (apt's ``python3-picamera2``; the venv needs ``--system-site-packages``), so
it is imported when this adapter is built, never when ``appliance.camera`` is imported.

The camera is opened, configured once for stills at ``width × height`` and started on first use (or by
:meth:`Picamera2Camera.warm_up` at start-up), then kept running: a capture only encodes the next frame to
JPEG in memory (``capture_file(BytesIO, format="jpeg")``), well under a second, and auto-exposure has long
settled. Each capture runs in a worker thread bounded by ``capture_timeout``, so a stuck camera (a loose
ribbon cable) cannot hang the turn; the stuck job is then cancelled with ``cancel_all_and_flush``, which
picamera2 provides for exactly that.

Picamera2 API used (checked against raspberrypi/picamera2 ``picamera2/picamera2.py``):
``Picamera2(camera_num=0)``, ``create_still_configuration(main={"size": (w, h)})``, ``configure(config)``,
``start()``, ``capture_file(file_output, name="main", format=None, wait=None, ...)``,
``cancel_all_and_flush()``, ``stop()``, ``close()``.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from appliance.camera.jpeg import check_jpeg
from appliance.config.settings import CameraSettings
from appliance.errors import CameraError

log = logging.getLogger(__name__)

CLOSE_WAIT = 1.0  # seconds close() waits for a capture in progress

INSTALL_HINT = (
    "picamera2 is not available: on Raspberry Pi OS install it with "
    "`sudo apt install python3-picamera2` and create the venv with --system-site-packages"
)


def import_picamera2() -> ModuleType:
    """Import picamera2 or raise CameraError with how to install it.

    libcamera logs every INFO line to stderr (journald) unless told otherwise; keep warnings and errors
    only, unless the operator set LIBCAMERA_LOG_LEVELS themselves."""
    os.environ.setdefault("LIBCAMERA_LOG_LEVELS", "*:WARN")
    try:
        return importlib.import_module("picamera2")
    except ImportError as exc:
        raise CameraError(f"{INSTALL_HINT} ({exc})") from None


def describe_open_error(exc: BaseException, camera_num: int) -> str:
    """A sentence for why Picamera2() failed, from its exception chain.

    No camera: ``global_camera_info()[camera_num]`` raises IndexError. Busy: libcamera's acquire fails with
    "Device or resource busy" (errno 16), which Picamera2 wraps in RuntimeError("Camera __init__ sequence
    did not complete.")."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, IndexError) for e in chain) or "not found" in text or "no camera" in text:
        return (
            f"no camera is attached (camera {camera_num} not found; check the ribbon cable and "
            "that `rpicam-hello --list-cameras` lists it)"
        )
    if "busy" in text or "in use" in text or "-16" in text or "acquire" in text:
        return "the camera is busy: another program is using it"
    return f"the camera could not be opened ({chain[-1].__class__.__name__}: {chain[-1]})"


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    data: bytes = b""
    error: CameraError | None = None


class Picamera2Camera:
    """ports.Camera on picamera2. ``module`` replaces the ``picamera2`` module (tests pass a stand-in)."""

    def __init__(self, settings: CameraSettings, *, module: ModuleType | Any | None = None) -> None:
        self.settings = settings
        self._module = module if module is not None else import_picamera2()
        self._camera: Any = None  # the Picamera2 object once opened, configured and started
        self._hw_lock = threading.Lock()  # one hardware operation at a time
        self._state_lock = threading.Lock()
        self._pending: _Job | None = None  # the last capture's job; not done = a worker is still on it
        self._closed = False
        self.last_capture_ms: float | None = None

    # --- ports.Camera ---------------------------------------------------------------------------------

    def capture_jpeg(self) -> bytes:
        """Capture one frame as JPEG within ``capture_timeout`` seconds; CameraError otherwise."""
        timeout = self.settings.capture_timeout
        job = _Job()
        with self._state_lock:
            if self._closed:
                raise CameraError("the camera is closed")
            if self._pending is not None and not self._pending.done.is_set():
                raise CameraError("the camera is not responding (an earlier capture has not finished)")
            self._pending = job
            worker = threading.Thread(target=self._capture, args=(job,), name="camera-capture", daemon=True)
            start = time.monotonic()
            worker.start()
        if not job.done.wait(timeout):
            self._abandon()
            raise CameraError(f"the camera did not deliver a frame within {timeout:g} seconds")
        if job.error is not None:
            raise job.error
        self.last_capture_ms = (time.monotonic() - start) * 1000
        return check_jpeg(job.data, self.settings.max_bytes)

    def close(self) -> None:
        """Stop and close the camera. Bounded (shutdown has 2 s): a stuck camera is left to process exit."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        if not self._hw_lock.acquire(timeout=min(CLOSE_WAIT, self.settings.capture_timeout)):
            log.warning("camera: still stuck in a capture; not closing it")
            return
        try:
            self._release_locked()
        finally:
            self._hw_lock.release()

    # --- extras ---------------------------------------------------------------------------------------

    def warm_up(self) -> threading.Thread:
        """Open and start the camera in the background, so the first capture is quick and well exposed.

        A failure is only logged: the next capture tries again and reports it."""

        def run() -> None:
            try:
                with self._hw_lock:
                    if not self._closed:
                        self._ensure_started_locked()
                        log.info("camera: ready (%d×%d stills)", self.settings.width, self.settings.height)
            except CameraError as exc:
                log.warning("camera: %s", exc.message)

        thread = threading.Thread(target=run, name="camera-warm-up", daemon=True)
        thread.start()
        return thread

    # --- internals ------------------------------------------------------------------------------------

    def _capture(self, job: _Job) -> None:
        try:
            with self._hw_lock:
                if self._closed:
                    raise CameraError("the camera is closed")
                camera = self._ensure_started_locked()
                buffer = io.BytesIO()
                try:
                    camera.capture_file(buffer, format="jpeg")
                except Exception as exc:  # picamera2/libcamera raise many types; all become a CameraError
                    self._release_locked()  # reopen on the next capture (the cable may have been reseated)
                    raise CameraError(f"the capture failed ({exc.__class__.__name__}: {exc})") from exc
            job.data = buffer.getvalue()
        except CameraError as exc:
            job.error = exc
        finally:
            job.done.set()

    def _ensure_started_locked(self) -> Any:
        if self._camera is not None:
            return self._camera
        num = self.settings.camera_num
        try:
            camera = self._module.Picamera2(camera_num=num)
        except Exception as exc:  # IndexError (no camera), RuntimeError (busy, init failed)
            raise CameraError(describe_open_error(exc, num)) from exc
        try:
            config = camera.create_still_configuration(main={"size": (self.settings.width, self.settings.height)})
            camera.configure(config)
            camera.start()
        except Exception as exc:
            self._close_quietly(camera)
            raise CameraError(f"the camera could not be started ({exc.__class__.__name__}: {exc})") from exc
        self._camera = camera
        return camera

    def _abandon(self) -> None:
        """A capture timed out: cancel picamera2's pending job so the worker thread ends (off this thread:
        the call takes picamera2's lock, which a stuck event loop may hold)."""
        camera = self._camera
        cancel = getattr(camera, "cancel_all_and_flush", None) if camera is not None else None
        if cancel is None:
            return

        def run() -> None:
            try:
                cancel()
            except Exception as exc:  # best effort; the capture has already been reported as failed
                log.warning("camera: cancelling the stuck capture failed: %s", exc)

        threading.Thread(target=run, name="camera-cancel", daemon=True).start()

    def _release_locked(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            self._close_quietly(camera)

    @staticmethod
    def _close_quietly(camera: Any) -> None:
        for step in ("stop", "close"):
            try:
                getattr(camera, step)()
            except Exception as exc:  # closing a failed camera; logged, nothing else to do
                log.warning("camera: %s failed: %s", step, exc)
