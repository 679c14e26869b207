"""The start's warm-ups. With the HTTP transport, the assistant's parses one event of the stream's union, so the
SDK's parser for it is built before the first answer (scripts/bench_latency.py measured ~220 ms for that on the
first answer); the WebSocket's events are read without the SDK.
A warm-up that fails on a network not up yet says so in one line, without a traceback."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import openai
import pytest
from openai.types.responses import ResponseTextDeltaEvent

from appliance.errors import ApplianceError, ErrorKind
from appliance.host import wiring
from appliance.host.deferred import Deferred
from appliance.llm.transport import warm_event_types


def test_the_warm_up_parses_a_text_delta_of_the_http_union() -> None:
    parsed = warm_event_types()
    # a dict the union did not recognise would come back as a plain dict (and warm nothing)
    assert type(parsed) is ResponseTextDeltaEvent and parsed.delta == ""


# --- a warm-up that fails at start ---------------------------------------------------------------------
# The start builds the cloud clients in the background (host/deferred.py); whatever it prepares is made again
# when a turn needs it, and a failure that matters is reported then. A network that is not up yet at boot is
# expected: one line in the log, no traceback. These go through the real SDK to real sockets.


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed: connections are refused


def list_models(base_url: str) -> None:
    openai.OpenAI(api_key="sk-warm-up-test", base_url=base_url, max_retries=0, timeout=0.3).models.list()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes the connection and never answers: the request times out (0.3 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def warm_logs(factory: Callable[[], object], caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    with caplog.at_level(logging.INFO, logger="appliance"):
        thread = Deferred(factory).warm()
        thread.join(30)
        assert not thread.is_alive()
    return [r for r in caplog.records if r.name.startswith("appliance")]


def one_line_without_traceback(records: list[logging.LogRecord], reason: str) -> None:
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.WARNING and record.exc_info is None and "\n" not in record.getMessage()
    assert "a cloud client: not prepared at start" in record.getMessage() and reason in record.getMessage()


def test_a_refused_connection_during_the_warm_up_is_one_line(caplog):
    records = warm_logs(lambda: list_models(f"http://127.0.0.1:{closed_port()}/v1"), caplog)
    one_line_without_traceback(records, "connection refused")


def test_a_timeout_during_the_warm_up_is_one_line(caplog, silent_server):
    one_line_without_traceback(warm_logs(lambda: list_models(silent_server), caplog), "timed out")


def test_a_name_that_does_not_resolve_during_the_warm_up_is_one_line(caplog):
    # .invalid never resolves (RFC 6761), with or without a resolver
    records = warm_logs(lambda: list_models("http://appliance-warm-up-test.invalid/v1"), caplog)
    one_line_without_traceback(records, "name lookup failed")


def test_a_typed_error_during_the_warm_up_is_one_line(caplog):
    def no_key() -> object:
        raise ApplianceError(ErrorKind.AUTH, "OPENAI_API_KEY is not set")

    one_line_without_traceback(warm_logs(no_key, caplog), "OPENAI_API_KEY is not set")


def test_a_bug_during_the_warm_up_keeps_its_traceback(caplog):
    def bug() -> object:
        return {}["missing"]

    [record] = warm_logs(bug, caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None and record.exc_info[0] is KeyError


# --- one warm-up at a time -------------------------------------------------------------------------------
# Two threads importing one SDK's lazily loaded modules in different orders make importlib raise
# _DeadlockError in one of them (CI saw it: the transcriber's warm-up and the realtime preload, both deep in
# openai.types, and the traceback failed test_fault_matrix). Warm-ups and first builds take turns.


class Overlap:
    """Work that records whether another piece of work was running when it started."""

    def __init__(self) -> None:
        self.running = 0
        self.overlapped = False
        self.done = 0
        self._lock = threading.Lock()

    def work(self) -> str:
        with self._lock:
            self.running += 1
            self.overlapped |= self.running > 1
        time.sleep(0.05)  # long enough for the other threads to try to start theirs
        with self._lock:
            self.running -= 1
            self.done += 1
        return "built"


def test_warm_ups_and_first_builds_never_run_at_once() -> None:
    overlap = Overlap()
    clients = [Deferred(overlap.work) for _ in range(3)]
    threads = [client.warm() for client in clients]
    threads += [
        threading.Thread(target=wiring.warm_up, args=("a preload", overlap.work), daemon=True) for _ in range(3)
    ]
    for thread in threads[3:]:
        thread.start()
    built = [client.get() for client in clients]  # the turn's first use races its own warm-up
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)  # no lock cycle between warm-ups and first uses
    assert built == ["built"] * 3 and overlap.done == 6  # each client built once, each preload ran once
    assert not overlap.overlapped
