"""Running the real ``appliance run`` headless as a subprocess: for the end-to-end tests, the benchmarks
and the emulated-Pi smoke test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the checkout (the working directory of a run)


@dataclass
class Run:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    speaker: Path

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    def states(self) -> list[str]:
        return [e["state"] for e in self.of("state")]


def appliance_env(extra: dict[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "OPENAI_", "ELEVENLABS_", "GPIOZERO_"))
    }
    env.update({"GPIOZERO_PIN_FACTORY": "mock", "GPIOZERO_MOCK_PIN_CLASS": "mockpwmpin", "PYTHONUNBUFFERED": "1"})
    if home is not None:
        env["XDG_CACHE_HOME"] = str(home / "cache")
    env.update(extra or {})
    return env


def start(
    tmp_path: Path, mic: Path, *args: str, env: dict[str, str] | None = None, config: str | None = None
) -> tuple[subprocess.Popen[str], Path, Path]:
    events = tmp_path / "events.jsonl"
    speaker = tmp_path / "speaker.wav"
    cmd = [
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--mic",
        str(mic),
        "--speaker",
        str(speaker),
        "--events",
        str(events),
        "--state-dir",
        str(tmp_path / "state"),
        *args,
    ]
    if config is not None:
        path = tmp_path / "config.toml"
        path.write_text(config)
        cmd[4:4] = ["--config", str(path)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env or appliance_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, events, speaker


def run(
    tmp_path: Path,
    mic: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    config: str | None = None,
) -> Run:
    proc, events, speaker = start(tmp_path, mic, *args, env=env, config=config)
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate()
        raise AssertionError(f"appliance run did not finish in {timeout}s; stderr:\n{err[-3000:]}") from None
    return Run(proc.returncode, read_events(events), err, speaker)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
