"""sd_notify against a real datagram socket; the control socket with a real Unix socket."""

from __future__ import annotations

import os
import socket
import stat
import threading

from appliance.config.settings import Settings
from appliance.host.control import ControlServer, default_socket_path
from appliance.host.control_client import ctl_main, request
from appliance.host.systemd import Notifier


def test_notify_is_a_noop_outside_systemd():
    n = Notifier(env={})
    assert not n.enabled and n.notify("READY=1") is False and n.watchdog_interval() is None


def test_ready_status_watchdog_reach_the_socket(tmp_path):
    path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
        assert n.watchdog_interval() == 5.0
        n.ready()
        assert server.recv(1024).startswith(b"READY=1")
        n.status("speaking")
        assert server.recv(1024) == b"STATUS=speaking"
        n.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"
        n.watchdog()  # too soon for another ping
        n.stopping()
        assert server.recv(1024) == b"STOPPING=1"
    finally:
        server.close()


def test_watchdog_for_another_pid_is_ignored():
    notifier = Notifier(env={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval() is None


def test_abstract_socket(tmp_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0appliance-test-notify")
    server.settimeout(2)
    try:
        Notifier(env={"NOTIFY_SOCKET": "@appliance-test-notify"}).ready()
        assert server.recv(1024).startswith(b"READY=1")
    finally:
        server.close()


def test_control_socket_round_trip_and_permissions(tmp_path, capsys):
    calls = []

    def handler(cmd, args):
        calls.append((cmd, args))
        if cmd == "say":
            raise RuntimeError("speaker unplugged")
        return {"ok": True, "state": "idle"}

    path = str(tmp_path / "run" / "control.sock")
    server = ControlServer(path, handler)
    server.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert request(path, "status", []) == {"ok": True, "state": "idle"}
        assert ctl_main(["ask", "what", "time"], path) == 0
        assert calls[-1] == ("ask", ["what", "time"])
        assert request(path, "say", ["hi"])["error"] == "RuntimeError: speaker unplugged"
        assert "unknown command" in request(path, "reboot", [])["error"]
        with socket.socket(socket.AF_UNIX) as s:  # garbage is answered, not fatal
            s.connect(path)
            s.sendall(b"not json\n")
            assert b"bad request" in s.recv(1024)
        threads = [threading.Thread(target=request, args=(path, "status", [])) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert len([c for c in calls if c[0] == "status"]) == 9
    finally:
        server.stop()
    assert not os.path.exists(path)
    assert ctl_main(["status"], path) == 1
    assert "is the appliance running" in capsys.readouterr().err


def test_default_socket_path():
    s = Settings()
    assert default_socket_path(s, {}) == ""
    assert default_socket_path(s, {"RUNTIME_DIRECTORY": "/run/appliance"}) == "/run/appliance/control.sock"
    s.control.socket = "/tmp/x.sock"
    assert default_socket_path(s, {"RUNTIME_DIRECTORY": "/run/appliance"}) == "/tmp/x.sock"
