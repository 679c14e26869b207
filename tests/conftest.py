"""Shared fixtures: gpiozero's MockFactory, a PulseAudio server with null sinks, the fake cloud."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers: doubles

from standin.cloud import FakeCloud  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Captured output with a lone surrogate (the sanitising tests log one) kept as an escape: a report goes
    to the controlling process as UTF-8 when the suite runs in several (pytest-xdist)."""
    report = yield
    report.sections = [
        (name, text.encode("utf-8", "backslashreplace").decode("utf-8")) for name, text in report.sections
    ]
    return report


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """Puts the root logger back after a test that ran cli.main (which installs a handler on sys.stderr).

    Under pytest that stderr is the test's capture file, closed when the test ends; a worker thread that logs
    later (a WebSocket server winding down) would print "--- Logging error ---" into the run.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def mock_pins() -> Iterator[object]:
    """gpiozero's own MockFactory with PWM-capable pins, reset after the test."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    previous = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = previous


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as server:
        yield server


class Pulse:
    """A running PulseAudio daemon: default sink "spk", default source "mic" (fed from sink "micfeed")."""

    def __init__(self, runtime_dir: str) -> None:
        self.runtime_dir = runtime_dir
        self.env = {**os.environ, "XDG_RUNTIME_DIR": runtime_dir, "HOME": runtime_dir}

    def run(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(args), env=self.env, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]

    def record(self, path: Path, device: str = "spk.monitor") -> subprocess.Popen[bytes]:
        """Start recording what is played on ``device`` (stop with .terminate())."""
        return subprocess.Popen(
            [
                "parec",
                "--latency-msec=10",
                f"--device={device}",
                "--file-format=wav",
                "--rate=48000",
                "--channels=1",
                "--format=s16le",
                str(path),
            ],
            env=self.env,
        )

    def play_into_mic(self, wav: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["paplay", "--device=micfeed", str(wav)], env=self.env)


@pytest.fixture(scope="session")
def pulse() -> Iterator[Pulse]:
    if not shutil.which("pulseaudio"):
        pytest.fail("pulseaudio is not installed: run scripts/setup (it installs the system packages)")
    runtime = subprocess.run(
        [str(ROOT / "scripts" / "pulse-test-server")], check=True, capture_output=True, text=True
    ).stdout.strip()
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")}
    os.environ["XDG_RUNTIME_DIR"] = runtime
    try:
        yield Pulse(runtime)
    finally:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "HOME": runtime}
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(runtime, ignore_errors=True)
