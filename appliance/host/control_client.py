"""The control socket's client: `appliance ctl`, and ``request`` for scripts and tests."""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
from typing import Any

from appliance.core.commands import NAMES, usage

#: How long `request` keeps retrying while the listen queue is full.
CONNECT_RETRY_SECONDS = 3.0


def _connect(path: str, timeout: float, retry_seconds: float) -> socket.socket:
    """Connect, retrying while the server's listen queue is full (EAGAIN on a Unix socket)."""
    give_up = time.monotonic() + retry_seconds
    delay = 0.002
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK) or time.monotonic() >= give_up:
                raise
        time.sleep(delay)  # a full queue drains in milliseconds; back off up to 50 ms
        delay = min(delay * 2, 0.05)


def request(
    path: str, cmd: str, args: list[str], timeout: float = 10.0, retry_seconds: float = CONNECT_RETRY_SECONDS
) -> dict[str, Any]:
    with _connect(path, timeout, retry_seconds) as sock:
        try:
            sock.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before it read everything (and gave up reading): its reply is there
        data = b""
        try:
            while b"\n" not in data and len(data) <= 1024 * 1024:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            if b"\n" not in data:
                raise
    reply = json.loads(data or b"{}")
    if not isinstance(reply, dict):
        raise ValueError(f"the appliance answered {type(reply).__name__}, not an object")
    return reply


def ctl_main(argv: list[str], socket_path: str) -> int:
    if not argv or argv[0] not in NAMES:
        print(usage(), file=sys.stderr)
        return 2
    if not socket_path:
        print(
            "appliance ctl: no control socket: pass --socket PATH (the service uses /run/appliance/control.sock)",
            file=sys.stderr,
        )
        return 2
    try:
        reply = request(socket_path, argv[0], argv[1:])
    except FileNotFoundError:
        print(f"appliance ctl: {socket_path} does not exist: is the appliance running?", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"appliance ctl: no permission for {socket_path}: run as the service's group or root", file=sys.stderr)
        return 1
    except (ConnectionRefusedError, TimeoutError, OSError, ValueError) as exc:
        print(f"appliance ctl: {socket_path}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1
