#!/usr/bin/env python3
"""A stand-in for systemctl and journalctl on a test "Pi" whose files all live under --root.

It runs the unit the way systemd runs `Type=notify`: `restart` stops the running process (SIGTERM, then
SIGKILL), starts the current release with a NOTIFY_SOCKET and the unit's environment (RUNTIME_DIRECTORY,
STATE_DIRECTORY, the env file) and returns only once the service sent READY=1, or fails as systemctl does
when the process exits first. What runs is the release's own code: `appliance run` (--real), or
tests/deploy_fakes/standin.py on the release's Python (the release's settings and control socket, without
the audio stack). A release whose version is listed in ROOT/fake/crash exits at start, as a broken release
would. Every call is appended to ROOT/fake/systemctl.log.

  systemctl.py --root ROOT [--real] ACTION [UNIT]      (daemon-reload | enable | restart | stop | is-active)
  systemctl.py --root ROOT journal -u UNIT [-p err] [-n N] ...
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 90.0  # TimeoutStartSec in deploy/appliance.service


class Host:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fake = root / "fake"
        self.fake.mkdir(parents=True, exist_ok=True)
        self.pidfile = root / "run" / "appliance.pid"
        self.journal = root / "var" / "log" / "appliance.log"
        self.current = root / "opt" / "appliance" / "current"

    def log(self, text: str) -> None:
        with open(self.fake / "systemctl.log", "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def stop(self) -> None:
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10  # TimeoutStopSec
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def environment(self, notify: str) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.root / "var/lib/appliance"),
            "PYTHONUNBUFFERED": "1",
            "NOTIFY_SOCKET": notify,
            "RUNTIME_DIRECTORY": str(self.root / "run/appliance"),
            "STATE_DIRECTORY": str(self.root / "var/lib/appliance"),
            "GPIOZERO_PIN_FACTORY": "mock",
            "GPIOZERO_MOCK_PIN_CLASS": "mockpwmpin",
            "XDG_CACHE_HOME": str(self.root / "var/cache"),
        }
        env_file = self.root / "etc/appliance/env"
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and not key.startswith("#") and value:
                    env[key.strip()] = value.strip()
        return env

    def command(self, real: bool) -> list[str]:
        venv = self.current / "venv/bin"
        config = str(self.root / "etc/appliance/config.toml")
        if real:
            mic = self.fake / "mic.wav"
            if not mic.exists():
                with wave.open(str(mic), "wb") as w:  # ten minutes of silence: the appliance waits for a wake word
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(16000)
                    w.writeframes(b"\0\0" * 16000 * 600)
            return [
                str(venv / "appliance"),
                "run",
                "--config",
                config,
                "--mic",
                str(mic),
                "--speaker",
                str(self.fake / "speaker.wav"),
            ]
        return [str(venv / "python"), str(HERE / "standin.py"), "--config", config]

    def crashes(self) -> bool:
        listed = (self.fake / "crash").read_text().split() if (self.fake / "crash").exists() else []
        release = os.path.basename(os.readlink(self.current)) if self.current.is_symlink() else ""
        return any(release.startswith(version + "-") for version in listed)

    def start(self, real: bool) -> int:
        for d in ("run/appliance", "var/lib/appliance", "var/log", "var/cache"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        notify_path = str(self.root / "run" / "notify.sock")
        Path(notify_path).unlink(missing_ok=True)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = self.environment(notify_path)
        if self.crashes():
            env["STANDIN_CRASH"] = "1"
        with open(self.journal, "a", encoding="utf-8") as log:
            proc = subprocess.Popen(
                self.command(real),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(self.root / "var/lib/appliance"),
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                notify.settimeout(0.1)
                try:
                    if notify.recv(4096).startswith(b"READY=1"):
                        return 0
                except TimeoutError:
                    pass
                if proc.poll() is not None:
                    self.pidfile.unlink(missing_ok=True)
                    print(
                        f"Job for appliance.service failed because the control process exited with error code "
                        f"(status={proc.returncode}).",
                        file=sys.stderr,
                    )
                    return 1
            self.stop()
            print("Job for appliance.service failed because a timeout was exceeded.", file=sys.stderr)
            return 1
        finally:
            notify.close()


def _alive(pid: int) -> bool:
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not _zombie(pid)
    return waited == 0


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return False


def journal(host: Host, args: list[str]) -> int:
    lines = host.journal.read_text(errors="replace").splitlines() if host.journal.exists() else []
    if "-p" in args and args[args.index("-p") + 1] == "err":
        lines = [line for line in lines if "error" in line.lower() or "cannot start" in line]
    if "-n" in args:
        lines = lines[-int(args[args.index("-n") + 1]) :]
    print("\n".join(lines))
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--real", action="store_true", help="run the release's `appliance run`, not the stand-in")
    p.add_argument("action")
    args, rest = p.parse_known_args()
    host = Host(args.root)
    if args.action == "journal":
        return journal(host, rest)
    host.log(args.action)
    if args.action in ("daemon-reload", "enable"):
        return 0
    if args.action == "stop":
        host.stop()
        return 0
    if args.action == "is-active":
        return 0 if host.running_pid() else 3
    if args.action == "restart":
        host.stop()
        return host.start(args.real)
    print(f"systemctl stand-in: unknown action {args.action}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
