"""The assistant over the Responses API's WebSocket mode (the real SDK's ``responses.connect()``) against
the fake cloud's WebSocket, and its fallback to HTTP streaming when the socket fails."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets, SettingsError
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Error, Info, Recorder
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.llm.responses import LOST_CONNECTION, ResponsesAssistant
from appliance.ports import ToolContext
from appliance.retry import RetryPolicy
from appliance.tools import ToolRegistry
from standin.cloud import FakeCloud, Stall, Status
from standin.responses import ResponsesServer, Script, Wire
from standin.responses_ws import ResponsesWsServer


class Controls:
    def volume(self) -> float:
        return 0.5

    def set_volume(self, value: float) -> float:
        return value

    def stop_turn(self) -> None:
        pass

    def reset_conversation(self) -> None:
        pass

    def camera_allowed(self) -> bool:
        return False


def lookup(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


@dataclass
class WsSettings(AssistantSettings):
    transport_idle_seconds: float = 300.0  # until the settings have it


class Harness:
    def __init__(
        self,
        cloud: FakeCloud,
        ws: ResponsesWsServer,
        *,
        warm: bool = True,
        transport: str = "websocket",
        idle: float = 300.0,
        connect_timeout: float = 1.0,
        deadline: float = 8.0,
    ) -> None:
        self.settings = WsSettings(
            connect_timeout=connect_timeout,
            read_timeout=1.0,
            deadline=deadline,
            max_retries=2,
            transport_idle_seconds=idle,
        )
        secrets = Secrets.from_env(cloud.env())
        client = openai.OpenAI(
            api_key=secrets.openai_api_key, base_url=cloud.openai_base_url, websocket_base_url=ws.url, max_retries=0
        )
        registry = ToolRegistry()
        registry.register(lookup)
        self.events = Recorder()
        policy = RetryPolicy(max_retries=2, deadline=self.settings.deadline, base=0.05, rng=random.Random(0))
        endpoint = OpenAiEndpoint(secrets.openai_api_key, cloud.openai_base_url, ws.url)
        self.assistant = ResponsesAssistant(
            self.settings,
            secrets,
            registry,
            self.context,
            client=client,
            endpoint=endpoint,
            retry_policy=policy,
            transport=transport,
        )
        if warm:
            self.assistant.warm()  # opens the socket ahead of the first turn

    def context(self, cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(controls=Controls(), camera=None, indicators=None, cancel=cancel, emit=emit)

    def ask(self, text: str, cancel: CancelToken | None = None) -> list[str]:
        return [p.text for p in self.assistant.respond(text, cancel or CancelToken(), self.events)]

    def fallbacks(self) -> list[Info]:
        return [e for e in self.events.of(Info) if e.what == "transport_fallback"]


@pytest.fixture
def server(cloud: FakeCloud) -> ResponsesServer:
    return ResponsesServer(cloud)


@pytest.fixture
def ws(server: ResponsesServer) -> Iterator[ResponsesWsServer]:
    fake = ResponsesWsServer(server)
    yield fake
    fake.close()


def test_turns_and_tool_rounds_share_one_warm_socket(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    calls = wire.calls(("lookup", {"city": "Oslo"}), text="Let me look.")
    first, second = wire.text("It is sunny in Oslo."), wire.text("You are welcome.")
    server.then(calls, first, second)
    assert h.ask("Weather in Oslo?") == ["Let me look.", "It is sunny in Oslo."]
    assert h.ask("Thanks!") == ["You are welcome."]
    assert ws.upgrades == 1 and len(ws.received) == 3 and server.requests == []  # nothing over HTTP
    assert ws.received[1]["previous_response_id"] == calls.response_id
    assert ws.received[1]["input"] == [
        {"type": "function_call_output", "call_id": calls.call_ids[0], "output": "Sunny in Oslo"}
    ]
    assert ws.received[2]["previous_response_id"] == first.response_id
    assert "stream" not in ws.received[0] and server.rejected == [] and h.fallbacks() == []


@pytest.mark.parametrize("status", [403, 401])
def test_a_refused_upgrade_falls_back_to_http(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer, status: int
) -> None:
    wire = Wire()
    ws.refuse(status)
    h = Harness(cloud, ws, warm=False)  # the socket is opened on demand, by the first request
    server.then(wire.text("Hello over HTTP."))
    assert h.ask("Hi.") == ["Hello over HTTP."]
    assert len(server.requests) == 1 and ws.received == []
    assert h.fallbacks()  # said once, in the events
    assert "sk-test" not in repr(h.events.events)


def test_an_error_message_before_the_response_falls_back_to_http(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    server.then(Status(500, "the socket's backend failed"), wire.text("Hello over HTTP."))
    assert h.ask("Hi.") == ["Hello over HTTP."]
    assert len(ws.received) == 1 and len(server.requests) == 1
    assert h.fallbacks()


def test_a_close_before_any_text_is_retried_over_http_without_repeating(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    broken, whole = wire.text("One. Two."), wire.text("One. Two.")
    ws.close_after(broken.index("response.output_text.delta"))  # the response started, no text yet
    server.then(broken, whole)
    assert h.ask("Count.") == ["One.", "Two."]
    assert len(ws.received) == 1 and len(server.requests) == 1
    assert server.bodies()[0]["input"] == ws.received[0]["input"]  # the same request, once more over HTTP


def test_a_close_after_the_first_sentence_apologises_once(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    script = wire.text("First sentence here. Second one never arrives.", chunk_size=5)
    ws.close_after(script.index("response.output_text.delta", 6))
    server.then(script)
    assert h.ask("Talk.") == ["First sentence here.", LOST_CONNECTION]
    assert server.requests == [] and h.assistant.previous_response_id is None


def test_a_stalled_socket_falls_back_to_http(cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    server.then(Stall(5.0), wire.text("Hello over HTTP."))
    assert h.ask("Hi.") == ["Hello over HTTP."]
    assert len(server.requests) == 1 and h.fallbacks()


def test_prepare_opens_the_socket_in_the_background(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws, warm=False)
    assert ws.upgrades == 0
    started = h.assistant.prepare()  # what the app calls on the wake word
    assert started is not None
    started.join(5)
    assert ws.upgrades == 1 and h.assistant.prepare() is None  # already open: nothing to do
    server.then(wire.text("Ready."))
    assert h.ask("Hi.") == ["Ready."]
    assert ws.upgrades == 1 and len(ws.received) == 1 and server.requests == []


def test_a_socket_closed_while_idle_is_reopened(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    first = wire.text("One.")
    server.then(first, wire.text("Two."))
    assert h.ask("First?") == ["One."]
    assert ws.close_idle() == 1  # the server's age limit, between turns
    assert h.ask("Second?") == ["Two."]
    assert ws.upgrades == 2 and server.requests == [] and h.fallbacks() == []
    assert ws.received[1]["previous_response_id"] == first.response_id


def test_an_unknown_previous_response_restarts_the_conversation_as_over_http(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    first = wire.text("One.")
    server.then(first, wire.text("Fresh start."))
    assert h.ask("First?") == ["One."]
    server.forget(first.response_id)
    assert h.ask("Second?") == ["Fresh start."]
    assert [e.what for e in h.events.of(Info)] == ["conversation_restarted"]  # no fallback: the socket is fine
    assert ws.received[1]["previous_response_id"] == first.response_id  # refused with an error message
    assert server.bodies()[0]["previous_response_id"] == first.response_id  # the same over HTTP, with its 400
    assert "previous_response_id" not in ws.received[2] and ws.upgrades == 1


def test_cancel_in_the_middle_of_a_socket_stream(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    before = wire.text("Hello.")
    server.then(before)
    h.ask("Hi.")
    long = wire.text("First sentence. Second one. " + "More words here. " * 40, chunk_size=12)
    long.cut(stall_after=long.index("response.output_text.delta", 2), stall_seconds=10)  # then silence
    server.then(long)
    token = CancelToken()
    got: list[str] = []
    stamp: list[float] = []

    def press() -> None:
        stamp.append(time.monotonic())
        token.cancel("button")

    for piece in h.assistant.respond("Talk a lot.", token, h.events):  # blocks in the silent socket
        got.append(piece.text)
        threading.Timer(0.05, press).start()
    ended = time.monotonic()
    assert got == ["First sentence."]
    assert ended - stamp[0] < 1.0
    assert h.events.of(Error) == [] and h.fallbacks() == []
    # the half-read socket was dropped; the next turn opens another and continues from the complete response
    server.then(wire.text("Yes?"))
    assert h.ask("Are you still there?") == ["Yes?"]
    assert ws.received[2]["previous_response_id"] == before.response_id and ws.upgrades == 2
    assert server.requests == [] and server.rejected == []


def test_nothing_listening_is_a_connection_error(cloud: FakeCloud) -> None:
    with FakeCloud() as gone:
        env = gone.env()
    settings = AssistantSettings(connect_timeout=1.0, read_timeout=1.0, deadline=3.0, max_retries=1)
    secrets = Secrets.from_env(env)
    client = openai.OpenAI(api_key=secrets.openai_api_key, base_url=gone.openai_base_url, max_retries=0)
    policy = RetryPolicy(max_retries=1, deadline=settings.deadline, base=0.05, rng=random.Random(0))
    assistant = ResponsesAssistant(
        settings,
        secrets,
        ToolRegistry(),
        lambda cancel, emit: None,  # type: ignore[arg-type,return-value]
        client=client,
        retry_policy=policy,
        transport="websocket",
    )
    events = Recorder()
    with pytest.raises(ApplianceError) as caught:
        list(assistant.respond("Hi.", CancelToken(), events))
    assert caught.value.kind is ErrorKind.CONNECTION
    assert [e.what for e in events.of(Info)] == ["transport_fallback"]  # then HTTP, refused the same way


def test_http_transport_opens_no_socket(cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer) -> None:
    wire = Wire()
    h = Harness(cloud, ws, transport="http")
    assert h.assistant.prepare() is None
    server.then(wire.text("Plain."))
    assert h.ask("Hi.") == ["Plain."]
    assert ws.upgrades == 0 and len(server.requests) == 1
    with pytest.raises(SettingsError):
        Harness(cloud, ws, transport="carrier-pigeon")


def test_failures_inside_the_response_follow_the_http_rules_on_the_socket(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    server.then(wire.failed("server_error"), wire.text("Second try worked."))
    assert h.ask("Hi.") == ["Second try worked."]  # retried, as over HTTP
    server.then(wire.error("server_error", text="Half an answer. And"))
    assert h.ask("Again.") == ["Half an answer.", LOST_CONNECTION]  # said once, then the apology
    assert [e.kind for e in h.events.of(Error)] == ["server", "server"]
    assert len(ws.received) == 3 and ws.upgrades == 1 and server.requests == [] and h.fallbacks() == []


def test_a_slow_handshake_falls_back_to_http(cloud: FakeCloud, server: ResponsesServer) -> None:
    wire = Wire()
    slow = ResponsesWsServer(server, setup_delay=3.0)  # past connect_timeout (1 s)
    try:
        h = Harness(cloud, slow, warm=False)
        server.then(wire.text("Hello over HTTP."))
        started = time.monotonic()
        assert h.ask("Hi.") == ["Hello over HTTP."]
        assert time.monotonic() - started < 2.5 and len(server.requests) == 1 and h.fallbacks()
    finally:
        slow.close()


def test_an_unused_socket_is_closed_and_the_next_turn_opens_another(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws, idle=0.3)
    server.then(wire.text("One."), wire.text("Two."))
    assert h.ask("First?") == ["One."]
    assert ws.wait_all_closed(5.0)  # closed by the appliance, 0.3 s after the answer
    assert h.ask("Second?") == ["Two."]
    assert ws.upgrades == 2 and server.requests == [] and h.fallbacks() == []


def test_a_stalled_handshake_from_the_wake_word_is_awaited_once_then_http(
    cloud: FakeCloud, server: ResponsesServer
) -> None:
    """The socket prepare() opens on the wake word stalls in its handshake: the turn's request waits for that
    one handshake (connect_timeout), then goes over HTTP at once; it never opens a second socket."""
    wire = Wire()
    stalled = ResponsesWsServer(server, setup_delay=10.0)  # far past connect_timeout (1 s)
    try:
        h = Harness(cloud, stalled, warm=False)
        server.then(wire.text("Hello over HTTP. All of it."))
        assert h.assistant.prepare() is not None  # the wake word: the handshake starts
        started = time.monotonic()
        assert h.ask("Hi.") == ["Hello over HTTP.", "All of it."]  # once, nothing lost or repeated
        took = time.monotonic() - started
        assert stalled.handshakes == 1 and stalled.received == []
        assert len(server.requests) == 1 and len(h.fallbacks()) == 1
        assert took < 4 * h.settings.connect_timeout  # ~1 s: one handshake's wait (a generous bound)
        server.then(wire.text("Still HTTP."))
        assert h.ask("Again?") == ["Still HTTP."]  # the cool-off: no socket tried in the next turn either
        assert stalled.handshakes == 1 and len(h.fallbacks()) == 1
    finally:
        stalled.close()


def test_a_handshake_that_failed_at_the_wake_word_is_not_tried_again_in_the_turn(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    ws.refuse(503)
    h = Harness(cloud, ws, warm=False)
    started = h.assistant.prepare()
    assert started is not None
    started.join(5)  # refused before the user finished speaking
    server.then(wire.text("Hello over HTTP."))
    assert h.ask("Hi.") == ["Hello over HTTP."]
    assert ws.handshakes == 1 and len(server.requests) == 1
    assert len(h.fallbacks()) == 1  # the turn hears why it went over HTTP, once


def test_a_silent_open_socket_waits_only_its_own_first_event_time(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    """An open socket that says nothing after the request: HTTP after the first-event wait (read_timeout 1 s
    here, at most 4 s), not connect_timeout + that."""
    wire = Wire()
    h = Harness(cloud, ws, connect_timeout=5.0, deadline=20.0)
    assert ws.upgrades == 1
    server.then(Stall(15.0), wire.text("Hello over HTTP."))
    started = time.monotonic()
    assert h.ask("Hi.") == ["Hello over HTTP."]
    took = time.monotonic() - started
    assert len(ws.received) == 1 and len(server.requests) == 1 and len(h.fallbacks()) == 1
    assert took < h.settings.connect_timeout - 1.0  # ~1 s; connect_timeout + 1 s before (generous bound)


def _garble(script: Script, kind: str) -> Script:
    """The script with its first text delta spoiled as ``kind`` says (an event the SDK passes on unchecked)."""
    delta = script.events[script.index("response.output_text.delta")]
    if kind == "delta_number":
        delta["delta"] = 42
    elif kind == "delta_missing":
        del delta["delta"]
    elif kind == "no_type":
        del delta["type"]
    elif kind == "response_string":
        script.events[script.index("response.completed")]["response"] = "done"
    return script


#: Garbage the socket may carry: raw messages (not JSON, JSON that is no event) and spoiled events.
RAW_GARBAGE: dict[str, str | bytes] = {
    "not_json": "{'type': oops",
    "json_list": "[1, 2, 3]",
    "json_null": "null",
    "not_utf8": b'{"type": "\xff\xfe"}',  # a binary message
}
SPOILED = ["delta_number", "delta_missing", "no_type"]


@pytest.mark.parametrize("garbage", [*RAW_GARBAGE, *SPOILED])
def test_a_malformed_event_before_any_text_goes_over_http(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer, garbage: str
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    broken, whole = wire.text("One. Two."), wire.text("One. Two.")
    if garbage in RAW_GARBAGE:
        ws.inject(RAW_GARBAGE[garbage], broken.index("response.output_text.delta"))
    else:
        _garble(broken, garbage)
    server.then(broken, whole)
    assert h.ask("Count.") == ["One.", "Two."]  # whole, once, over HTTP
    assert len(ws.received) == 1 and len(server.requests) == 1 and len(h.fallbacks()) == 1
    assert all(e.kind == ErrorKind.CONNECTION for e in h.events.of(Error))  # never "internal"


@pytest.mark.parametrize("garbage", ["not_json", "delta_number", "response_string"])
def test_a_malformed_event_after_the_first_sentence_ends_as_a_lost_connection(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer, garbage: str
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    script = wire.text("First sentence here. Second one never arrives.", chunk_size=5)
    later = script.index("response.output_text.delta", 6)
    if garbage == "not_json":
        ws.inject("<html>502 Bad Gateway</html>", later)
    elif garbage == "delta_number":
        script.events[later]["delta"] = 7
    else:
        _garble(script, garbage)
    server.then(script)
    said = h.ask("Talk.")
    assert said[0] == "First sentence here." and said[-1] == LOST_CONNECTION and len(said) <= 3
    assert [e.kind for e in h.events.of(Error)] == [ErrorKind.CONNECTION]  # the usual typed error, not internal
    assert server.requests == [] and len(h.fallbacks()) == 1  # the next request goes over HTTP


def test_a_malformed_first_message_goes_over_http_at_once(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    wire = Wire()
    h = Harness(cloud, ws)
    ws.inject('{"type": 5}', 0)  # before response.created
    server.then(wire.text("Hello."), wire.text("Hello."))
    assert h.ask("Hi.") == ["Hello."]
    assert h.events.of(Error) == [] and len(h.fallbacks()) == 1 and len(server.requests) == 1


SDK_FREE_TURN = """
import json, os, sys
from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets
from appliance.events import Recorder
from appliance.llm.responses import ResponsesAssistant
from appliance.tools import ToolRegistry

def lookup(city: str) -> str:
    '''Weather for a city.'''
    return f"Sunny in {city}"

registry = ToolRegistry()
registry.register(lookup)
settings = AssistantSettings(connect_timeout=2.0, read_timeout=5.0, deadline=10.0, max_retries=0)
secrets = Secrets.from_env(os.environ)
assistant = ResponsesAssistant(settings, secrets, registry, lambda cancel, emit: None, transport="websocket")
said = [p.text for p in assistant.respond("Weather in Oslo?", CancelToken(), Recorder())]
assistant.close()
print(json.dumps({"said": said, "sdk": sorted(m for m in ("openai", "pydantic", "httpx") if m in sys.modules)}))
"""


def test_a_turn_over_the_socket_with_a_tool_round_never_loads_the_sdk(
    cloud: FakeCloud, server: ResponsesServer, ws: ResponsesWsServer
) -> None:
    """The SDK (~30 MB on a Pi: issue 31) is the HTTP fallback's only: a whole turn over the socket, a tool round
    included, is read without it, in a fresh interpreter so other tests' imports do not count."""
    import json
    import subprocess
    import sys

    wire = Wire()
    server.then(wire.calls(("lookup", {"city": "Oslo"}), text="Let me look."), wire.text("It is sunny in Oslo."))
    env = {**os.environ, **cloud.env(), "OPENAI_WEBSOCKET_BASE_URL": ws.url}
    done = subprocess.run(
        [sys.executable, "-c", SDK_FREE_TURN], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "said": ["Let me look.", "It is sunny in Oslo."],
        "sdk": [],
    }
    assert ws.upgrades == 1 and len(ws.received) == 2 and server.requests == []
