"""The control socket under abuse: what it refuses to delete, bursts, and any bytes a client may send."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.host.cli import main
from appliance.host.control import BACKLOG, COMMANDS, WORKERS, ControlServer
from appliance.host.control_client import request
from appliance.host.control_request import MAX_REQUEST, RequestError, parse_request
from appliance.host.startup import StartError


def ok(cmd: str, args: list[str]) -> dict[str, object]:
    return {"ok": True, "cmd": cmd, "args": args}


def send_raw(path: str, data: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    assert reply.endswith(b"\n") and reply.count(b"\n") == 1
    return json.loads(reply)


@pytest.fixture
def server(tmp_path):
    srv = ControlServer(str(tmp_path / "control.sock"), ok)
    srv.start()
    yield srv
    srv.stop()


# --- the socket path ----------------------------------------------------------------------------------


def test_a_regular_file_at_the_path_is_refused_and_kept(tmp_path):
    path = tmp_path / "precious.txt"
    path.write_text("my notes")
    with pytest.raises(StartError, match="a regular file is in the way; refusing to remove it"):
        ControlServer(str(path), ok).start()
    assert path.read_text() == "my notes"


def test_a_directory_at_the_path_is_refused(tmp_path):
    (tmp_path / "dir" / "inside").mkdir(parents=True)
    with pytest.raises(StartError, match="a directory is in the way"):
        ControlServer(str(tmp_path / "dir"), ok).start()
    assert (tmp_path / "dir" / "inside").is_dir()


def test_a_live_socket_means_another_appliance_is_running(server):
    with pytest.raises(StartError, match="another appliance is running"):
        ControlServer(server.path, ok).start()
    assert request(server.path, "status", [])["ok"]  # the first one is untouched


def test_a_stale_socket_is_removed(tmp_path):
    path = str(tmp_path / "control.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)
    dead.close()  # a crashed run leaves the file
    assert os.path.exists(path)
    srv = ControlServer(path, ok)
    srv.start()
    try:
        assert request(path, "status", []) == {"ok": True, "cmd": "status", "args": []}
    finally:
        srv.stop()
    assert not os.path.exists(path)


@pytest.mark.parametrize("kind", ["file", "dir", "live"])
def test_the_cli_exits_2_with_one_line(tmp_path, capsys, kind):
    path = tmp_path / "control.sock"
    live = None
    if kind == "file":
        path.write_text("x")
    elif kind == "dir":
        path.mkdir()
    else:
        live = ControlServer(str(path), ok)
        live.start()
    try:
        assert main(["run", "--control-socket", str(path), "--mic", __file__, "--pace", "0"]) == 2
    finally:
        if live is not None:
            live.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "Traceback" not in err[0], err
    if kind == "file":
        assert path.read_text() == "x"


# --- bursts -------------------------------------------------------------------------------------------


def test_200_parallel_clients_are_all_answered_by_a_bounded_pool(tmp_path):
    served_by: set[str] = set()
    lock = threading.Lock()
    release = threading.Event()

    def slow(cmd: str, args: list[str]) -> dict[str, object]:
        with lock:
            served_by.add(threading.current_thread().name)
        release.wait(0.002)  # long enough that the queue fills
        return {"ok": True, "n": args[0]}

    path = str(tmp_path / "control.sock")
    srv = ControlServer(path, slow)
    srv.start()
    before = threading.active_count()
    replies: list[dict[str, object] | BaseException] = []
    barrier = threading.Barrier(200)

    def client(n: int) -> None:
        barrier.wait()
        try:
            reply: dict[str, object] | BaseException = request(path, "status", [str(n)])
        except OSError as exc:
            reply = exc
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(200)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not [r for r in replies if isinstance(r, BaseException)]
        assert sorted(int(r["n"]) for r in replies) == list(range(200))  # type: ignore[index, call-overload]
        assert len(served_by) <= WORKERS and all(name.startswith("control-") for name in served_by)
        assert threading.active_count() - before <= 0  # the clients are gone; the server made no new threads
    finally:
        srv.stop()
    assert BACKLOG >= 128


# --- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,error",
    [
        (b'{"cmd": "say", "args": "hello"}\n', '"args" must be a list of strings, not a string'),
        (b'{"cmd": "say", "args": [1, 2]}\n', '"args"[0] must be a string, not a number'),
        (b'{"cmd": ["status"]}\n', '"cmd" must be a string, not a list'),
        (b'{"args": []}\n', '"cmd" is missing'),
        (b'{"cmd": "status", "sudo": true}\n', "unknown field(s) 'sudo'"),
        (b'["status"]\n', "must be a JSON object, not a list"),
        (b"[" * 1000 + b"\n", "nests deeper than"),
        (b'{"cmd": "say", "args": [' + b"[" * 5000 + b"]}\n", "nests deeper than"),
        (b"not json\n", "not JSON"),
        (b"\xff\xfe{}\n", "not UTF-8"),
        (b"\n", "empty request"),
        (b'{"cmd": "say", "args": ["\\ud800"]}\n', "lone surrogate"),
        (b'{"cmd": "status", "args": [' + b'"x",' * 100 + b'"x"]}\n', "at most 64"),
        (b'{"cmd": "say", "args": ["' + b"a" * MAX_REQUEST + b'"]}\n', "request too large"),
    ],
)
def test_malformed_requests_get_a_json_error_reply(server, data, error):
    reply = send_raw(server.path, data)
    assert reply["ok"] is False and error in str(reply["error"]), reply


def test_a_request_without_newline_is_read_to_the_end(server):
    assert send_raw(server.path, b'{"cmd": "say", "args": ["hi there"]}') == {
        "ok": True,
        "cmd": "say",
        "args": ["hi there"],
    }
    assert "unknown command 'reboot'" in str(send_raw(server.path, b'{"cmd": "reboot"}\n')["error"])


def test_a_handler_returning_junk_is_an_error_reply(tmp_path):
    srv = ControlServer(str(tmp_path / "c.sock"), lambda cmd, args: {"ok": True, "bad": object()})
    srv.start()
    try:
        reply = request(srv.path, "status", [])
        assert reply["ok"] is False and "could not be encoded" in reply["error"]
    finally:
        srv.stop()


# --- fuzz ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "cmd": st.sampled_from(COMMANDS) | json_values,
        "args": st.lists(st.text(max_size=10)) | json_values,
        "extra": json_values,
    },
)


def check_parse(data: bytes) -> None:
    try:
        cmd, args = parse_request(data)
    except RequestError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(cmd, str) and isinstance(args, list) and all(isinstance(a, str) for a in args)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    check_parse(data)
    check_parse(data + b"\n")


@settings(max_examples=400, deadline=None)
@given(json_values | requests)
def test_fuzz_json_shapes(value):
    data = json.dumps(value).encode() + b"\n"
    check_parse(data)
    srv = ControlServer("/nonexistent", ok)
    reply = srv.reply(data)
    assert isinstance(reply, dict) and isinstance(reply["ok"], bool)
    json.dumps(reply)
    if isinstance(value, dict) and value.get("cmd") in COMMANDS and set(value) <= {"cmd", "args"}:
        args = value.get("args", [])
        if isinstance(args, list) and all(isinstance(a, str) for a in args) and len(args) <= 64:
            assert reply == {"ok": True, "cmd": value["cmd"], "args": args}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | (json_values | requests).map(lambda v: json.dumps(v).encode()))
def test_fuzz_through_the_real_socket(server, data):
    reply = send_raw(server.path, data + b"\n")
    assert isinstance(reply["ok"], bool)


# --- slow and oversized clients -------------------------------------------------------------------------


class Trickler:
    """A client that sends a request one byte at a time, ``every`` seconds apart, until told to stop or the
    server answers (the slow-loris pattern): what it received, and whether it had finished sending."""

    def __init__(self, path: str, every: float) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.every = every
        self.stop = threading.Event()
        self.answered = threading.Event()
        self.reply = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        request = b'{"cmd": "status", "args": [' + b'"x", ' * 1000 + b'"x"]}\n'
        self.sock.setblocking(False)
        for byte in request:
            try:
                self.sock.send(bytes([byte]))
            except OSError:
                break
            if self._read() or self.stop.wait(self.every):
                break
        while not self.stop.is_set() and not self._read():
            self.stop.wait(0.05)
        self.sock.close()

    def _read(self) -> bool:
        try:
            chunk = self.sock.recv(4096)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        self.reply += chunk
        if b"\n" in self.reply or not chunk:
            self.answered.set()
            return True
        return False


def test_slow_clients_do_not_lock_others_out(tmp_path):
    # Four (and more) clients each sending a byte every 1.5 s used to hold every worker for as long as they
    # kept sending (the 2 s timeout applied to each read, not to the request): health checks went unanswered.
    path = str(tmp_path / "control.sock")
    srv = ControlServer(path, ok)
    srv.start()
    slow = [Trickler(path, every=1.5) for _ in range(WORKERS + 2)]
    try:
        assert request(path, "status", [], timeout=15) == {"ok": True, "cmd": "status", "args": []}
    finally:
        for t in slow:
            t.stop.set()
        srv.stop()


def test_slow_clients_do_not_hold_the_workers_even_with_a_long_deadline(tmp_path):
    # Workers only run commands; reading requests is one thread's job, so slow senders cost a connection each.
    path = str(tmp_path / "control.sock")
    srv = ControlServer(path, ok, read_timeout=60.0)
    srv.start()
    slow = [Trickler(path, every=0.5) for _ in range(WORKERS * 4)]
    try:
        assert request(path, "status", ["a"], timeout=15) == {"ok": True, "cmd": "status", "args": ["a"]}
        assert not any(t.answered.is_set() for t in slow)  # still being read, not dropped to make room
    finally:
        for t in slow:
            t.stop.set()
        srv.stop()


def test_the_read_deadline_covers_the_whole_request(tmp_path):
    path = str(tmp_path / "control.sock")
    srv = ControlServer(path, ok)
    srv.start()
    slow = Trickler(path, every=0.5)  # under the 2 s timeout per byte, far over it for the request (~5000 bytes)
    try:
        assert slow.answered.wait(30), "the slow client was never cut off"
        reply = json.loads(slow.reply)
        assert reply["ok"] is False and "no request line within 2 s" in reply["error"]
    finally:
        slow.stop.set()
        srv.stop()


@pytest.mark.parametrize("size", [20_000, 1_000_000, 8_000_000])
def test_a_request_too_large_gets_the_json_error_not_a_broken_pipe(server, size):
    reply = request(server.path, "say", ["a" * size])
    assert reply["ok"] is False and "request too large" in reply["error"], reply
    assert request(server.path, "status", []) == {"ok": True, "cmd": "status", "args": []}  # the server is fine


def test_a_request_too_large_without_a_newline_gets_the_json_error(server):
    reply = send_raw(server.path, b'{"cmd": "say", "args": ["' + b"a" * 2_000_000)
    assert reply["ok"] is False and "request too large" in str(reply["error"]), reply
