"""The control socket under abuse: what it refuses to delete, bursts, and any bytes a client may send."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.control import (
    BACKLOG,
    COMMANDS,
    MAX_REQUEST,
    WORKERS,
    ControlServer,
    RequestError,
    parse_request,
    request,
)
from appliance.startup import StartError


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
