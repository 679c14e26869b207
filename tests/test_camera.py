"""Camera adapters and the describe_image tool.

picamera2 cannot be imported off a Pi, so its adapter is driven through a stand-in ``picamera2`` module
whose ``Picamera2`` class has exactly the documented methods, with the real signatures (copied from
raspberrypi/picamera2 ``picamera2/picamera2.py`` at 3e6dff0, 2026-05-12) and the real failure modes
(IndexError when no camera is attached, RuntimeError when it is busy, a capture that only ends when
``cancel_all_and_flush`` cancels it). Python itself rejects a call with arguments the real method does
not take; anything else the adapter touches is recorded as a violation and fails the test.

The tool's camera LED is the real :class:`appliance.gpio.leds.Leds` on gpiozero's MockFactory.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import types
import zlib
from pathlib import Path
from typing import Any

import pytest
from doubles import Controls

from appliance.camera import make_camera
from appliance.camera.files import DirectoryCamera, FileCamera
from appliance.camera.jpeg import check_jpeg, jpeg_size
from appliance.camera.picamera2 import Picamera2Camera
from appliance.cancel import CancelToken
from appliance.config.settings import CameraSettings, GpioSettings, Settings
from appliance.errors import CameraError, Cancelled
from appliance.events import Error, Info, Recorder
from appliance.ports import ToolContext

ROOT = Path(__file__).resolve().parent.parent
X_JPG = Path(__file__).resolve().parent / "data" / "x.jpg"
JPEG = X_JPG.read_bytes()


def png_bytes() -> bytes:
    """A real 2×2 PNG (stdlib only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", (2).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def labelled(label: str) -> bytes:
    """x.jpg with a comment segment (still a valid JPEG), so images in a folder are distinguishable."""
    text = label.encode()
    return JPEG[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + JPEG[2:]


# --- the stand-in picamera2 module ---------------------------------------------------------------------


class StandIn:
    """Builds a ``picamera2`` module; records calls; simulates attached/busy/stuck cameras."""

    def __init__(self, cameras: int = 1, frame: bytes = JPEG) -> None:
        self.cameras = cameras
        self.busy = False
        self.frame = frame
        self.stuck = False  # capture_file waits until cancel_all_and_flush (or release)
        self.cancel_unsticks = True
        self.fail_next_capture: Exception | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.violations: list[str] = []
        self.instances: list[Any] = []
        self.capture_entered = threading.Event()
        self.cancelled = threading.Event()
        self.release = threading.Event()
        self.module = self._build()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _build(self) -> types.ModuleType:
        standin = self

        class Picamera2:
            def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
                standin.calls.append(("Picamera2", {"camera_num": camera_num}))
                if camera_num >= standin.cameras:
                    # the real constructor does global_camera_info()[camera_num]['Num'] on an empty list
                    raise IndexError("list index out of range")
                if standin.busy:
                    try:
                        raise RuntimeError("Failed to acquire camera: Device or resource busy")
                    except RuntimeError as exc:
                        raise RuntimeError("Camera __init__ sequence did not complete.") from exc
                self.camera_config: dict[str, Any] | None = None
                self.started = False
                self.is_open = True
                standin.instances.append(self)

            def __getattr__(self, name: str) -> Any:
                standin.violations.append(f"undocumented attribute Picamera2.{name}")
                raise AttributeError(name)

            def create_still_configuration(
                self,
                main={},  # noqa: B006  (picamera2's own documented defaults)
                lores=None,
                raw={},  # noqa: B006
                transform=None,
                colour_space=None,
                buffer_count=1,
                controls={},  # noqa: B006
                display=None,
                encode=None,
                queue=True,
                sensor={},  # noqa: B006
                use_case="still",
            ):
                standin.calls.append(
                    ("create_still_configuration", {"main": main, "lores": lores, "buffer_count": buffer_count})
                )
                if not self.is_open:
                    raise RuntimeError("Camera not opened")
                return {
                    "use_case": use_case,
                    "buffer_count": buffer_count,
                    "queue": queue,
                    "main": {"format": "BGR888", "size": (4608, 2592), **main},
                    "lores": lores,
                    "raw": raw,
                    "controls": dict(controls),
                    "sensor": sensor,
                }

            def configure(self, camera_config=None):
                standin.calls.append(("configure", {"camera_config": camera_config}))
                if not isinstance(camera_config, dict):
                    standin.violations.append(f"configure() got {camera_config!r}, not a configuration")
                self.camera_config = camera_config

            def start(self, config=None, show_preview=False):
                standin.calls.append(("start", {"config": config, "show_preview": show_preview}))
                if not self.camera_config and config is None:
                    raise RuntimeError("Camera has not been configured")
                self.started = True

            def capture_file(
                self, file_output, name="main", format=None, wait=None, signal_function=None, exif_data=None
            ):
                standin.calls.append(
                    ("capture_file", {"file_output": file_output, "name": name, "format": format, "wait": wait})
                )
                if not self.started:
                    standin.violations.append("capture_file before start() (picamera2 would wait forever)")
                    raise RuntimeError("not started")
                if standin.fail_next_capture is not None:
                    exc, standin.fail_next_capture = standin.fail_next_capture, None
                    raise exc
                standin.capture_entered.set()
                if standin.stuck:
                    standin.release.wait(30)
                    if standin.cancelled.is_set():
                        raise RuntimeError("job cancelled (CancelledError)")
                file_output.write(standin.frame)
                return {"SensorTimestamp": 1}

            def cancel_all_and_flush(self):
                standin.calls.append(("cancel_all_and_flush", {}))
                standin.cancelled.set()
                if standin.cancel_unsticks:
                    standin.release.set()

            def stop(self):
                standin.calls.append(("stop", {}))
                self.started = False

            def close(self):
                standin.calls.append(("close", {}))
                if self.started:
                    self.stop()
                self.is_open = False

        module = types.ModuleType("picamera2")
        module.Picamera2 = Picamera2  # type: ignore[attr-defined]
        return module


@pytest.fixture
def standin() -> Any:
    s = StandIn()
    yield s
    s.release.set()  # never leave a worker thread blocked
    assert s.violations == [], s.violations


def camera_settings(**kw: Any) -> CameraSettings:
    settings = CameraSettings(**kw)
    settings.validate()
    return settings


# --- picamera2 adapter ---------------------------------------------------------------------------------


def test_picamera2_configured_once_started_once_captures_jpeg_in_memory(standin: StandIn) -> None:
    camera = Picamera2Camera(camera_settings(), module=standin.module)
    assert standin.calls == []  # nothing touches the camera until it is used
    frames = [camera.capture_jpeg() for _ in range(3)]
    assert frames == [JPEG] * 3
    names = standin.names()
    assert names == [
        "Picamera2",
        "create_still_configuration",
        "configure",
        "start",
        "capture_file",
        "capture_file",
        "capture_file",
    ]
    calls = dict(standin.calls[:4])
    assert calls["Picamera2"] == {"camera_num": 0}
    assert calls["create_still_configuration"]["main"] == {"size": (1024, 768)}
    config = calls["configure"]["camera_config"]
    assert config["use_case"] == "still" and config["main"]["size"] == (1024, 768)
    for _name, args in standin.calls[4:]:
        assert args["format"] == "jpeg" and args["name"] == "main" and args["wait"] is None
        assert isinstance(args["file_output"], io.BytesIO)  # in memory, never a file on disk
    assert camera.last_capture_ms is not None and camera.last_capture_ms >= 0
    camera.close()
    assert standin.names()[-2:] == ["stop", "close"]
    camera.close()  # idempotent
    assert standin.names().count("close") == 1
    with pytest.raises(CameraError, match="closed"):
        camera.capture_jpeg()


def test_picamera2_resolution_and_camera_number_from_settings(standin: StandIn) -> None:
    standin.cameras = 2
    camera = Picamera2Camera(camera_settings(width=640, height=480, camera_num=1), module=standin.module)
    camera.capture_jpeg()
    calls = dict(standin.calls)
    assert calls["Picamera2"] == {"camera_num": 1}
    assert calls["create_still_configuration"]["main"] == {"size": (640, 480)}
    camera.close()


def test_picamera2_missing_camera_is_a_clear_error(standin: StandIn) -> None:
    standin.cameras = 0
    camera = Picamera2Camera(camera_settings(), module=standin.module)
    with pytest.raises(CameraError, match="no camera is attached") as info:
        camera.capture_jpeg()
    assert info.value.kind.value == "camera"
    standin.cameras = 1  # plugged in (and the service restarted the camera stack): the next capture works
    assert camera.capture_jpeg() == JPEG
    camera.close()


def test_picamera2_busy_camera_is_a_clear_error_and_retried(standin: StandIn) -> None:
    standin.busy = True
    camera = Picamera2Camera(camera_settings(), module=standin.module)
    with pytest.raises(CameraError, match="busy: another program is using it"):
        camera.capture_jpeg()
    standin.busy = False
    assert camera.capture_jpeg() == JPEG
    assert standin.names().count("configure") == 1
    camera.close()


def test_picamera2_capture_timeout_does_not_hang(standin: StandIn) -> None:
    standin.stuck = True
    camera = Picamera2Camera(camera_settings(capture_timeout=0.3), module=standin.module)
    start = time.monotonic()
    with pytest.raises(CameraError, match="did not deliver a frame within 0.3 seconds"):
        camera.capture_jpeg()
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 3.0, elapsed  # generous bound: 2 shared cores
    assert standin.cancelled.wait(5), "the stuck picamera2 job was not cancelled"
    # the cancelled job ended the worker, and a later capture works again (camera kept open)
    standin.stuck = False
    deadline = time.monotonic() + 5
    while True:
        try:
            assert camera.capture_jpeg() == JPEG
            break
        except CameraError as exc:  # the worker may need a moment to return from the cancelled job
            assert "not responding" in exc.message and time.monotonic() < deadline
            standin.release.wait(0.05)
    assert standin.names().count("Picamera2") == 2  # the failed capture reopened the camera
    camera.close()


def test_picamera2_stuck_camera_reports_not_responding_at_once(standin: StandIn) -> None:
    standin.stuck = True
    standin.cancel_unsticks = False  # the job stays stuck even after cancel_all_and_flush
    camera = Picamera2Camera(camera_settings(capture_timeout=0.2), module=standin.module)
    with pytest.raises(CameraError, match="within 0.2 seconds"):
        camera.capture_jpeg()
    start = time.monotonic()
    with pytest.raises(CameraError, match="not responding"):
        camera.capture_jpeg()
    assert time.monotonic() - start < 0.2
    start = time.monotonic()
    camera.close()  # bounded even while a capture is stuck (shutdown has 2 s)
    assert time.monotonic() - start < 1.9


def test_picamera2_failed_capture_reopens_camera(standin: StandIn) -> None:
    camera = Picamera2Camera(camera_settings(), module=standin.module)
    assert camera.capture_jpeg() == JPEG
    standin.fail_next_capture = RuntimeError("Camera frontend has timed out!")
    with pytest.raises(CameraError, match="the capture failed .*timed out"):
        camera.capture_jpeg()
    assert standin.names()[-2:] == ["stop", "close"]
    assert camera.capture_jpeg() == JPEG
    assert standin.names().count("Picamera2") == 2
    camera.close()


def test_picamera2_oversize_and_non_jpeg_frames_are_refused(standin: StandIn) -> None:
    camera = Picamera2Camera(camera_settings(max_bytes=1024), module=standin.module)
    with pytest.raises(CameraError, match="image too large: 4457 bytes"):
        camera.capture_jpeg()
    standin.frame = png_bytes()
    with pytest.raises(CameraError, match="did not return a JPEG"):
        camera.capture_jpeg()
    camera.close()


def test_importing_the_camera_package_never_imports_picamera2() -> None:
    code = (
        "import sys, appliance.camera, appliance.camera.tool, appliance.camera.files; "
        "assert 'picamera2' not in sys.modules, 'picamera2 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_make_camera_without_picamera2_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBCAMERA_LOG_LEVELS", raising=False)  # restored after the test
    monkeypatch.setitem(sys.modules, "picamera2", None)  # "import picamera2" raises ImportError
    assert make_camera(camera_settings(), None) is None


def test_make_camera_uses_picamera2_and_warms_it_up(monkeypatch: pytest.MonkeyPatch, standin: StandIn) -> None:
    monkeypatch.delenv("LIBCAMERA_LOG_LEVELS", raising=False)  # restored after the test
    monkeypatch.setitem(sys.modules, "picamera2", standin.module)
    camera = make_camera(camera_settings(), None)
    assert isinstance(camera, Picamera2Camera)
    assert os.environ["LIBCAMERA_LOG_LEVELS"] == "*:WARN"  # libcamera's INFO lines stay out of the journal
    deadline = time.monotonic() + 5
    while "start" not in standin.names():  # warm-up runs in the background
        assert time.monotonic() < deadline, standin.names()
        standin.release.wait(0.01)
    assert camera.capture_jpeg() == JPEG
    assert standin.names().count("start") == 1
    camera.close()


# --- file and folder adapters --------------------------------------------------------------------------


def test_file_camera_returns_the_jpeg() -> None:
    camera = make_camera(camera_settings(), str(X_JPG))
    assert isinstance(camera, FileCamera)
    assert camera.capture_jpeg() == JPEG
    assert jpeg_size(camera.capture_jpeg()) == (320, 240)
    camera.close()


def test_file_camera_bad_inputs(tmp_path: Path) -> None:
    png = tmp_path / "photo.png"
    png.write_bytes(png_bytes())
    with pytest.raises(CameraError, match=r"only JPEG images \(.jpg, .jpeg\)"):
        make_camera(camera_settings(), str(png))
    with pytest.raises(CameraError, match="no such image file"):
        FileCamera(tmp_path / "missing.jpg")
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(png_bytes())
    with pytest.raises(CameraError, match="did not return a JPEG"):
        FileCamera(fake).capture_jpeg()
    camera = FileCamera(X_JPG, max_bytes=1024)
    with pytest.raises(CameraError, match="image too large"):
        camera.capture_jpeg()


def test_directory_camera_cycles_sorted_jpegs(tmp_path: Path) -> None:
    for name in ("b.jpeg", "a.jpg", "c.JPG"):
        (tmp_path / name).write_bytes(labelled(name))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "d.png").write_bytes(png_bytes())
    camera = make_camera(camera_settings(), str(tmp_path))
    assert isinstance(camera, DirectoryCamera)
    got = [camera.capture_jpeg() for _ in range(4)]
    assert got == [labelled("a.jpg"), labelled("b.jpeg"), labelled("c.JPG"), labelled("a.jpg")]
    assert all(jpeg_size(g) == (320, 240) for g in got)


def test_directory_camera_without_images(tmp_path: Path) -> None:
    (tmp_path / "d.png").write_bytes(png_bytes())
    with pytest.raises(CameraError, match="holds no .jpg or .jpeg images"):
        make_camera(camera_settings(), str(tmp_path))
    with pytest.raises(CameraError, match="no such"):
        make_camera(camera_settings(), str(tmp_path / "nowhere"))


def test_check_jpeg() -> None:
    assert check_jpeg(JPEG, 10_000) == JPEG
    with pytest.raises(CameraError, match="empty"):
        check_jpeg(b"", 10_000)
    with pytest.raises(CameraError, match="image too large"):
        check_jpeg(JPEG, len(JPEG) - 1)


# --- the describe_image tool ---------------------------------------------------------------------------


class LedWatchingCamera:
    """Wraps a camera and notes whether the camera LED's pin was high while each capture ran."""

    def __init__(self, inner: Any, pin: Any) -> None:
        self.inner = inner
        self.pin = pin
        self.led_during: list[bool] = []

    def capture_jpeg(self) -> bytes:
        self.led_during.append(bool(self.pin.state))
        return self.inner.capture_jpeg()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def leds(mock_pins: Any) -> Any:
    from appliance.gpio.leds import Leds

    leds = Leds(GpioSettings())
    yield leds
    leds.close()


def make_ctx(
    camera: Any, leds: Any, settings: Settings | None = None, allowed: bool = True
) -> tuple[ToolContext, Recorder]:
    recorder = Recorder()
    ctx = ToolContext(
        controls=Controls(allowed),
        camera=camera,
        indicators=leds,
        cancel=CancelToken(),
        emit=recorder,
        settings=settings or Settings(),
    )
    return ctx, recorder


def test_tool_returns_text_and_image_parts_with_led_lit_only_during_capture(leds: Any, mock_pins: Any) -> None:
    from appliance.camera.tool import describe_image

    pin = mock_pins.pin(GpioSettings().camera_led_pin)
    camera = LedWatchingCamera(FileCamera(X_JPG), pin)
    settings = Settings()
    settings.camera.detail = "high"
    ctx, recorder = make_ctx(camera, leds, settings)
    assert pin.state == 0
    out = describe_image(ctx, "what colour is the ball?")
    assert camera.led_during == [True]
    assert pin.state == 0  # off again
    assert isinstance(out, list) and [p["type"] for p in out] == ["input_text", "input_image"]
    assert "what colour is the ball?" in out[0]["text"]
    image = out[1]
    assert image["detail"] == "high"
    prefix = "data:image/jpeg;base64,"
    assert image["image_url"].startswith(prefix)
    import base64

    assert base64.b64decode(image["image_url"][len(prefix) :]) == JPEG
    assert [e.what for e in recorder.of(Info)] == ["camera_capture"]
    assert recorder.of(Error) == []
    # without a question the text still tells the model what the photo is
    out = describe_image(ctx)
    assert isinstance(out, list) and "photo taken just now" in out[0]["text"]


def test_tool_camera_error_is_spoken_and_reported_led_off(leds: Any, mock_pins: Any) -> None:
    from appliance.camera.tool import describe_image

    pin = mock_pins.pin(GpioSettings().camera_led_pin)
    camera = LedWatchingCamera(FileCamera(X_JPG, max_bytes=1024), pin)
    ctx, recorder = make_ctx(camera, leds)
    out = describe_image(ctx)
    assert isinstance(out, str) and out.startswith("I couldn't use the camera: image too large")
    assert camera.led_during == [True] and pin.state == 0
    errors = recorder.of(Error)
    assert [(e.kind, e.stage) for e in errors] == [("camera", "camera")]


def test_tool_capture_timeout_through_picamera2_adapter(leds: Any, mock_pins: Any, standin: StandIn) -> None:
    from appliance.camera.tool import describe_image

    standin.stuck = True
    settings = Settings()
    settings.camera.capture_timeout = 0.3
    camera = Picamera2Camera(settings.camera, module=standin.module)
    ctx, recorder = make_ctx(camera, leds, settings)
    start = time.monotonic()
    out = describe_image(ctx)
    assert time.monotonic() - start < 3.0
    assert isinstance(out, str) and "did not deliver a frame within 0.3 seconds" in out
    assert mock_pins.pin(GpioSettings().camera_led_pin).state == 0
    assert recorder.of(Error)[0].kind == "camera"
    standin.release.set()
    camera.close()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("disabled", "switched off in the settings"),
        ("muted", "switched off right now"),
        ("no_camera", "no camera on this device"),
    ],
)
def test_tool_refuses_without_capturing(case: str, expected: str, leds: Any, mock_pins: Any) -> None:
    from appliance.camera.tool import describe_image

    pin = mock_pins.pin(GpioSettings().camera_led_pin)
    camera = LedWatchingCamera(FileCamera(X_JPG), pin)
    settings = Settings()
    settings.camera.enabled = case != "disabled"
    ctx, recorder = make_ctx(
        None if case == "no_camera" else camera, leds, settings, allowed=case not in ("muted", "disabled")
    )
    out = describe_image(ctx)
    assert isinstance(out, str) and expected in out
    assert camera.led_during == [] and pin.state == 0
    assert recorder.events == []


def test_tool_cancelled_turn_does_not_capture(leds: Any, mock_pins: Any) -> None:
    from appliance.camera.tool import describe_image

    camera = LedWatchingCamera(FileCamera(X_JPG), mock_pins.pin(GpioSettings().camera_led_pin))
    ctx, _ = make_ctx(camera, leds)
    ctx.cancel.cancel("button")
    with pytest.raises(Cancelled):
        describe_image(ctx)
    assert camera.led_during == []


def test_tool_keeps_frames_on_disk_only_when_debugging(tmp_path: Path, leds: Any) -> None:
    from appliance.camera.tool import describe_image

    settings = Settings()
    settings.debug.dir = str(tmp_path / "debug")
    ctx, _ = make_ctx(FileCamera(X_JPG), leds, settings)
    assert isinstance(describe_image(ctx), list)
    assert not (tmp_path / "debug").exists()
    settings.debug.keep_audio = True
    assert isinstance(describe_image(ctx), list)
    kept = list((tmp_path / "debug").iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".jpg" and kept[0].read_bytes() == JPEG


def test_a_debug_folder_that_cannot_be_written_or_is_at_its_bound(tmp_path: Path, leds: Any, caplog: Any) -> None:
    """Keeping frames never costs the answer, and the folder keeps at most debug.keep_files (issue #31)."""
    from appliance.camera.tool import describe_image

    (tmp_path / "a-file").write_text("not a folder")
    settings = Settings()
    settings.debug.keep_audio = True
    settings.debug.dir = str(tmp_path / "a-file" / "debug")
    ctx, _ = make_ctx(FileCamera(X_JPG), leds, settings)
    with caplog.at_level("INFO"):
        assert isinstance(describe_image(ctx), list)
    lines = [r for r in caplog.records if "camera-" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "cannot keep" in lines[0].getMessage()
    settings.debug.dir = str(tmp_path / "debug")
    settings.debug.keep_files = 3
    for _ in range(7):
        assert isinstance(describe_image(ctx), list)
    assert len(list((tmp_path / "debug").glob("camera-*.jpg"))) == 3
