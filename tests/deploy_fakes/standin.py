"""Stands in for `appliance run` on a test Pi that has no audio stack: it runs on the release's own Python
with the release's own settings loader, control server and sd_notify code, so a bad config exits 2, a
broken release fails to import, and the health check talks to a real control socket.

Like the real appliance it fails at start when a configured microphone is not there (this Pi has only the
default one), and when the test marked this release as one that crashes (STANDIN_CRASH)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from appliance import __version__
from appliance.config.settings import SettingsError, load
from appliance.host.control import ControlServer, default_socket_path
from appliance.host.systemd import Notifier


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    args = p.parse_args()
    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"appliance: config error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("STANDIN_CRASH"):
        print(f"appliance {__version__}: cannot start: RuntimeError: this release is broken", file=sys.stderr)
        return 1
    if settings.audio.input_device:
        print(f"appliance: cannot start: no input device matching {settings.audio.input_device!r}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def handler(cmd: str, _args: list[str]) -> dict[str, Any]:
        if cmd == "status":
            return {"ok": True, "state": "idle", "muted": False, "ready": True, "turns": 0, "version": __version__}
        return {"ok": False, "error": f"the stand-in does not do {cmd}"}

    server = ControlServer(default_socket_path(settings, os.environ), handler)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"appliance {__version__}: ready", file=sys.stderr)
    Notifier().ready()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
