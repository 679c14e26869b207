"""The control socket: a Unix socket (no TCP) for `appliance ctl` over SSH and for health checks.

Protocol: one JSON object per line, {"cmd": "status", "args": []}, answered by one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .commands import NAMES, usage

log = logging.getLogger(__name__)

MAX_REQUEST = 16 * 1024
COMMANDS = NAMES  # the table lives in appliance/commands.py

Handler = Callable[[str, list[str]], dict[str, Any]]


def default_socket_path(settings: Any, env: Mapping[str, str]) -> str:
    """ControlSettings.socket, else $RUNTIME_DIRECTORY/control.sock under systemd, else "" (none)."""
    if settings.control.socket:
        return str(settings.control.socket)
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return str(Path(runtime) / "control.sock") if runtime else ""


class ControlServer:
    def __init__(self, path: str, handler: Handler, *, mode: int = 0o660) -> None:
        self.path = path
        self.handler = handler
        self.mode = mode
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)  # a stale socket from a previous run
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o777 & ~self.mode)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, self.mode)
        sock.listen(8)
        sock.settimeout(0.2)
        self._socket = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._socket is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                data = b""
                while b"\n" not in data and len(data) <= MAX_REQUEST:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                reply = self._reply(data)
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError as exc:
                log.debug("control client failed: %s", exc)

    def _reply(self, data: bytes) -> dict[str, Any]:
        if len(data) > MAX_REQUEST:
            return {"ok": False, "error": "request too large"}
        try:
            request = json.loads(data.split(b"\n", 1)[0] or b"null")
            cmd = request["cmd"]
            args = [str(a) for a in request.get("args", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            return {"ok": False, "error": 'bad request: send {"cmd": ..., "args": [...]} and a newline'}
        if cmd not in COMMANDS:
            return {"ok": False, "error": f"unknown command {cmd!r} (known: {', '.join(COMMANDS)})"}
        try:
            return self.handler(cmd, args)
        except Exception as exc:
            log.exception("control command %s failed", cmd)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._thread is not None:
            self._thread.join(1.0)
        try:
            os.unlink(self.path)
        except OSError:
            pass


def request(path: str, cmd: str, args: list[str], timeout: float = 10.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b"{}")


def ctl_main(argv: list[str], socket_path: str) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        return 2
    if not socket_path:
        print("appliance ctl: no control socket: pass --socket PATH (the service uses "
              "/run/appliance/control.sock)", file=sys.stderr)
        return 2
    try:
        reply = request(socket_path, argv[0], argv[1:])
    except FileNotFoundError:
        print(f"appliance ctl: {socket_path} does not exist: is the appliance running?", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"appliance ctl: no permission for {socket_path}: run as the service's group or root",
              file=sys.stderr)
        return 1
    except (ConnectionRefusedError, TimeoutError, OSError, ValueError) as exc:
        print(f"appliance ctl: {socket_path}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1
