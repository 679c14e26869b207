"""Shared by the benchmark and soak scripts: a headless appliance against the local fake cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from appliance.host.control_client import request  # noqa: E402
from standin.cloud import FakeCloud  # noqa: E402
from standin.headless import appliance_env  # noqa: E402
from standin.voice import silence, write_wav  # noqa: E402


class Appliance:
    """`appliance run` on a long silent WAV microphone with a control socket, driven by `ask`."""

    def __init__(
        self,
        cloud: FakeCloud,
        mic: Path | None = None,
        config: str = "",
        pace: str = "1",
        seconds: float = 3600,
        env: dict[str, str] | None = None,
        root: Path = ROOT,
    ) -> None:
        """``env``: more environment (the WebSocket stand-ins' addresses); ``root``: the checkout to run."""
        self.dir = Path(tempfile.mkdtemp(prefix="appliance-bench-"))
        if mic is None:
            mic = self.dir / "silence.wav"
            write_wav(mic, silence(seconds))
        self.events_path = self.dir / "events.jsonl"
        self.socket = str(self.dir / "ctl.sock")
        cfg = self.dir / "config.toml"
        cfg.write_text(config)
        env = appliance_env({**cloud.env(), **(env or {})}, home=self.dir)
        self.started = time.monotonic()
        self._seen = 0  # events wait_turn has looked at
        self.alerts_stopped = 0
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appliance",
                "run",
                "--config",
                str(cfg),
                "--mic",
                str(mic),
                "--speaker",
                str(self.dir / "out.wav"),
                "--events",
                str(self.events_path),
                "--pace",
                pace,
                "--control-socket",
                self.socket,
                "--state-dir",
                str(self.dir / "state"),
            ],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "w"),
        )  # noqa: SIM115
        self.ready_after = self.wait(lambda e: e["event"] == "ready", 60) - 0  # seconds from spawn

    def events(self) -> list[dict[str, Any]]:
        """The events written so far; a last line still being written is left for the next call."""
        try:
            text = self.events_path.read_text()
        except FileNotFoundError:
            return []
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def wait(self, predicate: Any, timeout: float, after: int = 0) -> float:
        """Seconds since spawn when a matching event (beyond the first ``after`` events) was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(e) for e in self.events()[after:]):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError(f"the appliance exited ({self.proc.returncode}); see {self.dir}/stderr.log")
            time.sleep(0.01)
        raise TimeoutError("no matching event")

    def ask(self, text: str, timeout: float = 60) -> dict[str, Any]:
        """One turn by `ctl ask`; returns its `turn` event."""
        before = len(self.events())
        reply = request(self.socket, "ask", [text])
        if not reply.get("ok"):
            raise RuntimeError(f"ask refused: {reply}")
        self.wait(lambda e: e["event"] == "turn", timeout, after=before)
        self._settle(before, timeout)
        return [e for e in self.events()[before:] if e["event"] == "turn"][-1]

    def _settle(self, after: int, timeout: float) -> None:
        """Wait until the appliance is idle again after a turn. A timer that ended meanwhile rings (the alerting
        state, ``timers.ring_seconds``): a press stops it, as the owner would, and counts in ``alerts_stopped``."""
        settled = ("idle", "alerting")
        self.wait(lambda e: e["event"] == "state" and e["state"] in settled, timeout, after=after)
        last = [e for e in self.events()[after:] if e["event"] == "state"][-1]
        if last["state"] == "alerting":
            self.alerts_stopped += 1
            mark = len(self.events())
            request(self.socket, "press", [])
            self.wait(lambda e: e["event"] == "state" and e["state"] == "idle", timeout, after=mark)

    def wait_turn(self, timeout: float = 60) -> dict[str, Any]:
        """The next `turn` event (turns the microphone's WAV starts), once the appliance is idle again."""
        before = self._seen
        self.wait(lambda e: e["event"] == "turn", timeout, after=before)
        turn = next(e for e in self.events()[before:] if e["event"] == "turn")
        self._seen = self.events().index(turn, before) + 1
        self._settle(self._seen, timeout)
        return turn

    def status(self) -> dict[str, float]:
        """VmRSS (what the process holds now) and VmHWM (the most it ever held), in MB."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        return out

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
