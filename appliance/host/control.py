"""The control socket: a Unix socket (no TCP) for `appliance ctl` over SSH and for health checks.

Protocol: one JSON object per line, {"cmd": "status", "args": []}, answered by one JSON object per line.
Every request gets a JSON reply, whatever its bytes: the socket is how a person on SSH finds out what
the appliance is doing, so it must never answer with a traceback or silence.

One thread reads every request at once (non-blocking, a deadline on the whole request), and a fixed pool of
workers runs the complete ones: a client that sends slowly costs a connection until its deadline, never a
worker, so health checks and deploys are answered while it dawdles. Bursts (a health check and a script at
once) wait in the kernel's listen queue, sized for them, once MAX_OPEN connections are open: a flood costs
queued connections, never threads. The client (:mod:`.control_client`) retries briefly when the queue is full
instead of failing. What a request may be, and how a reply is written: :mod:`.control_request`.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.core.commands import NAMES
from appliance.host.control_request import MAX_REQUEST, USAGE, RequestError, encode_reply, parse_request
from appliance.host.startup import StartError

log = logging.getLogger(__name__)

COMMANDS = NAMES  # the table lives in appliance/core/commands.py

#: Connections the kernel queues while every worker is busy (Linux caps it at net.core.somaxconn).
BACKLOG = 128
#: Requests served at once; each command waits at most a few seconds for the main loop.
WORKERS = 4
#: Connections open at once (being read, waiting for a worker, being answered); more wait in the listen queue.
MAX_OPEN = 64
#: How long a client may take to send its whole request line (from its connection being accepted).
READ_TIMEOUT = 2.0
#: How long a reply may take to reach a client that does not read it.
SEND_TIMEOUT = 2.0

Handler = Callable[[str, list[str]], dict[str, Any]]


def default_socket_path(settings: Any, env: Mapping[str, str]) -> str:
    """ControlSettings.socket, else $RUNTIME_DIRECTORY/control.sock under systemd, else "" (none)."""
    if settings.control.socket:
        return str(settings.control.socket)
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return str(Path(runtime) / "control.sock") if runtime else ""


def claim_socket_path(path: str) -> None:
    """Make ``path`` free for a new socket, removing only a stale socket. Raises StartError (exit 2) for
    anything else there: a live socket (another appliance answering), a file, a directory."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartError(f"control socket {path}: cannot check it ({exc.strerror})") from None
    if not stat.S_ISSOCK(info.st_mode):
        what = (
            "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a symlink"
            if stat.S_ISLNK(info.st_mode)
            else ("a regular file" if stat.S_ISREG(info.st_mode) else "not a socket")
        )
        raise StartError(
            f"control socket {path}: {what} is in the way; refusing to remove it "
            "(remove it yourself or choose another path with --control-socket)"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        log.info("removing the stale control socket %s", path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StartError(f"control socket {path}: cannot remove the stale socket ({exc.strerror})") from None
        return
    except (BlockingIOError, TimeoutError):
        pass  # its queue is full: something is listening
    except OSError as exc:
        raise StartError(f"control socket {path}: cannot check it ({exc.strerror})") from None
    finally:
        probe.close()
    raise StartError(
        f"control socket {path}: another appliance is running (it answers there); stop it "
        "first (`systemctl stop appliance`) or choose another path with --control-socket"
    )


class _Reading:
    """A connection whose request is still arriving."""

    __slots__ = ("sock", "data", "deadline", "discarding")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.data = b""
        self.deadline = deadline
        self.discarding = False  # answered "too large": the rest of the request is read and dropped


class ControlServer:
    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        mode: int = 0o660,
        workers: int = WORKERS,
        read_timeout: float = READ_TIMEOUT,
        max_open: int = MAX_OPEN,
    ) -> None:
        self.path = path
        self.handler = handler
        self.mode = mode
        self.workers = workers
        self.read_timeout = read_timeout
        self.max_open = max(max_open, 1)
        self._socket: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._inode: tuple[int, int] | None = None
        self._ready: queue.SimpleQueue[tuple[socket.socket, bytes] | None] = queue.SimpleQueue()
        self._open = 0  # connections accepted and not yet closed (guarded by _lock)
        self._lock = threading.Lock()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    def start(self) -> None:
        """Claim the path and listen. Raises StartError (exit 2) when the path is taken."""
        claim_socket_path(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            old = os.umask(0o777 & ~self.mode)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old)
            os.chmod(self.path, self.mode)
            info = os.stat(self.path)
            self._inode = (info.st_dev, info.st_ino)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise StartError(
                f"control socket {self.path}: cannot listen there "
                f"({exc.strerror or exc}); choose another path with --control-socket"
            ) from None
        sock.setblocking(False)
        self._socket = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._threads = [threading.Thread(target=self._read_requests, args=(sock,), name="control-io", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"control-{i}", daemon=True) for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- the reading thread

    def _read_requests(self, listener: socket.socket) -> None:
        """Accept connections and read their requests, all at once: a complete request goes to a worker; one
        that takes longer than ``read_timeout`` in all, or grows over MAX_REQUEST, is answered from here."""
        assert self._wake_r is not None
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        reading: dict[socket.socket, _Reading] = {}
        accepting = False
        try:
            while not self._stopping.is_set():
                with self._lock:
                    room = self._open < self.max_open
                if room != accepting:  # at MAX_OPEN, newcomers wait in the kernel's queue
                    if room:
                        selector.register(listener, selectors.EVENT_READ)
                    else:
                        selector.unregister(listener)
                    accepting = room
                now = time.monotonic()
                timeout = max(0.0, min(r.deadline for r in reading.values()) - now) if reading else None
                for key, _ in selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        self._drain_wake()
                    elif key.fileobj is listener:
                        self._accept(listener, selector, reading)
                    elif isinstance(key.data, _Reading):
                        self._read(key.data, selector, reading)
                now = time.monotonic()
                for late in [r for r in reading.values() if r.deadline <= now]:
                    if not late.discarding:
                        error = f"no request line within {self.read_timeout:g} s: {USAGE}"
                        self._answer_now(late, {"ok": False, "error": error})
                    self._forget(late, selector, reading)
        except Exception:  # the socket must not die silently: the log says why it stopped answering
            log.exception("the control socket's reader failed")
        finally:
            for left in list(reading.values()):
                self._forget(left, selector, reading)
            selector.close()

    def _accept(
        self, listener: socket.socket, selector: selectors.BaseSelector, reading: dict[socket.socket, _Reading]
    ) -> None:
        while True:
            with self._lock:
                if self._open >= self.max_open:
                    return
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("control socket: accept failed: %s", exc)
                return
            conn.setblocking(False)
            with self._lock:
                self._open += 1
            reading[conn] = _Reading(conn, time.monotonic() + self.read_timeout)
            selector.register(conn, selectors.EVENT_READ, reading[conn])

    def _read(self, r: _Reading, selector: selectors.BaseSelector, reading: dict[socket.socket, _Reading]) -> None:
        try:
            chunk = r.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("control client went away: %s", exc)
            self._forget(r, selector, reading)
            return
        if r.discarding:
            if not chunk or b"\n" in chunk:  # the end of the request: its reply is already on its way
                self._forget(r, selector, reading)
            return
        r.data += chunk
        end = r.data.find(b"\n")
        if not chunk or end >= 0:  # a whole line (or all the client will send): a worker answers it
            selector.unregister(r.sock)
            del reading[r.sock]
            self._ready.put((r.sock, r.data if end < 0 else r.data[: end + 1]))
        elif len(r.data) > MAX_REQUEST:
            # Answer now, then read the rest and drop it: closing with the client still sending would break
            # its pipe before it reads the reply.
            self._answer_now(r, self.reply(r.data))
            r.data, r.discarding = b"", True

    def _answer_now(self, r: _Reading, reply: dict[str, Any]) -> None:
        """A short error reply from the reading thread: it fits the socket's empty send buffer, so it never
        blocks (a client that has filled its own buffer with replies is not one this server made)."""
        try:
            r.sock.send(encode_reply(reply))
        except OSError as exc:
            log.debug("control client went away: %s", exc)

    def _forget(self, r: _Reading, selector: selectors.BaseSelector, reading: dict[socket.socket, _Reading]) -> None:
        selector.unregister(r.sock)
        del reading[r.sock]
        self._close(r.sock)

    def _close(self, conn: socket.socket) -> None:
        conn.close()
        with self._lock:
            self._open -= 1
            wake = self._open == self.max_open - 1  # the reader may have stopped accepting
        if wake:
            self._wake()

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass  # full (it is awake anyway) or closed (stopping)

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(512):
                pass
        except OSError:
            pass

    # --- the workers

    def _work(self) -> None:
        while (item := self._ready.get()) is not None:
            conn, data = item
            try:
                reply = self.reply(data)
                conn.settimeout(SEND_TIMEOUT)
                conn.sendall(encode_reply(reply))
            except OSError as exc:
                log.debug("control client went away: %s", exc)
            finally:
                self._close(conn)

    def reply(self, data: bytes) -> dict[str, Any]:
        """The reply to one request's bytes: always a JSON-able dict with "ok"."""
        try:
            cmd, args = parse_request(data)
        except RequestError as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        if cmd not in COMMANDS:
            return {"ok": False, "error": f"unknown command {cmd[:40]!r} (known: {', '.join(COMMANDS)})"}
        try:
            result = self.handler(cmd, args)
        except Exception as exc:  # a failing command is the caller's answer, not the server's end
            log.exception("control command %s failed", cmd)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if not isinstance(result, dict):
            log.error("control command %s returned %s, not a dict", cmd, type(result).__name__)
            return {"ok": False, "error": "internal error: the command gave no reply"}
        return result

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        for _ in range(self.workers):
            self._ready.put(None)  # after the requests already read: they are answered first
        for thread in self._threads:
            thread.join(READ_TIMEOUT + 1.0)
        while True:  # anything a worker that did not stop in time left
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._close(item[0])
        for sock in (self._socket, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._socket = self._wake_r = self._wake_w = None
        try:  # only our own socket: never a path someone else has bound since
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
