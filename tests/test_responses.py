"""The streaming assistant against the fake cloud, with the real openai SDK (nothing mocked).

Every test asserts what the server received (input items, call_ids, outputs, previous_response_id,
instructions, tools) as well as what the assistant yielded and emitted. The server is
:class:`standin.responses.ResponsesServer`, which refuses (400) a request that leaves a function call of the
previous response unanswered, as the real API does; ``server.rejected`` stays empty when the assistant
keeps the conversation clean.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import openai
import pytest

from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets, Settings
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Error, Info, Recorder, ToolCall
from appliance.llm.client import classify_openai_error, is_previous_response_missing, make_openai_client
from appliance.llm.responses import (
    CANCELLED_OUTPUT,
    LOST_CONNECTION,
    NOT_RUN_OUTPUT,
    TOO_MANY_ROUNDS,
    ResponsesAssistant,
)
from appliance.llm.stream import QUEUE_CAPACITY
from appliance.ports import ToolContext
from appliance.retry import RetryPolicy
from appliance.text.piece import Piece
from appliance.timings import TurnTimings
from appliance.tools import ToolRegistry
from appliance.tools.builtin import register_builtin_tools
from standin.cloud import FakeCloud, Reset, Stall, Status
from standin.responses import ResponsesServer, Script, Wire


def fast_settings(**overrides: Any) -> AssistantSettings:
    """Short timeouts so failures resolve in a fraction of a second."""
    values: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "deadline": 5.0,
        "tool_timeout": 2.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return AssistantSettings(**values)


class Controls:
    def __init__(self) -> None:
        self._volume = 0.5
        self.stopped = 0
        self.on_reset: Any = None

    def volume(self) -> float:
        return self._volume

    def set_volume(self, value: float) -> float:
        self._volume = round(value, 2)
        return self._volume

    def stop_turn(self) -> None:
        self.stopped += 1

    def reset_conversation(self) -> None:
        if self.on_reset is not None:
            self.on_reset()

    def camera_allowed(self) -> bool:
        return False


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """The assistant with built-in and test tools, pointed at the fake cloud."""

    def __init__(
        self,
        cloud: FakeCloud,
        settings: AssistantSettings | None = None,
        clock: FakeClock | None = None,
        max_answer_chars: int | None = None,
    ) -> None:
        self.settings = settings or fast_settings()
        self.controls = Controls()
        self.events = Recorder()
        self.said: list[str] = []
        self.timings = TurnTimings()  # the last ask's
        self.tool_started = threading.Event()
        self.tool_tokens: list[CancelToken] = []
        self.seen_by_tools: list[list[str]] = []
        self.barrier = threading.Barrier(2, timeout=3)
        self.registry = ToolRegistry()
        register_builtin_tools(self.registry, camera=False)
        self._add_test_tools()
        self.secrets = Secrets.from_env(cloud.env())
        policy = RetryPolicy(
            max_retries=self.settings.max_retries, deadline=self.settings.deadline, base=0.05, rng=random.Random(0)
        )  # short backoffs keep the file fast
        self.assistant = ResponsesAssistant(
            self.settings,
            self.secrets,
            self.registry,
            self.make_context,
            clock=clock or FakeClock(),
            retry_policy=policy,
            max_answer_chars=max_answer_chars,
            transport="http",  # this file is the HTTP path; tests/test_responses_ws.py the WebSocket
        )
        self.controls.on_reset = self.assistant.reset
        self.assistant.warm()  # the SDK's first import costs seconds on a loaded machine, not the turn's deadline

    def _add_test_tools(self) -> None:
        harness = self

        def lookup(city: str) -> str:
            """Weather for a city."""
            harness.seen_by_tools.append(list(harness.said))
            return f"Sunny in {city}"

        def explode() -> str:
            """A tool whose sensor is unplugged."""
            raise RuntimeError("sensor unplugged")

        def slow(ctx: ToolContext, seconds: float) -> str:
            """A tool that takes its time (and stops when cancelled)."""
            harness.tool_tokens.append(ctx.cancel)
            harness.tool_started.set()
            if ctx.cancel.wait(seconds):
                return "interrupted"
            return "finished slowly"

        def meet(name: str) -> str:
            """Returns only when two calls run at the same time."""
            harness.barrier.wait()
            return f"met {name}"

        for function in (lookup, explode, slow, meet):
            self.registry.register(function)

    def make_context(self, cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(controls=self.controls, camera=None, indicators=None, cancel=cancel, emit=emit)

    def ask(self, text: str, cancel: CancelToken | None = None) -> list[str]:
        got: list[str] = []
        self.timings = TurnTimings()
        for piece in self.assistant.respond(text, cancel or CancelToken(), self.events, timings=self.timings):
            got.append(piece.text)
            self.said.append(piece.text)
        return got

    def error_kinds(self) -> list[str]:
        return [e.kind for e in self.events.of(Error)]

    def tool_calls(self) -> list[ToolCall]:
        return self.events.of(ToolCall)


def outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {item["call_id"]: item["output"] for item in body["input"] if item.get("type") == "function_call_output"}


def user_messages(body: dict[str, Any]) -> list[str]:
    return [item["content"] for item in body["input"] if item.get("role") == "user"]


@pytest.fixture(scope="module")
def cloud() -> Any:
    """One fake cloud for the module (stopping one takes half a second); each test gets its own
    ResponsesServer, which keeps its own request log."""
    with FakeCloud() as running:
        yield running


@pytest.fixture
def server(cloud: FakeCloud) -> ResponsesServer:
    return ResponsesServer(cloud)


@pytest.fixture
def wire() -> Wire:
    return Wire()


# --- answers ----------------------------------------------------------------------------------------


def test_text_answer_is_yielded_sentence_by_sentence(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.text("Hello! The capital of France is **Paris**. See https://www.paris.fr/visit for more."))
    assert h.ask("What is the capital of France?") == [
        "Hello!",
        "The capital of France is Paris.",
        "See paris.fr for more.",
    ]

    [request] = server.requests
    body = request.json
    assert body["model"] == h.settings.model
    assert body["instructions"] == h.settings.instructions
    assert body["stream"] is True and body["store"] is True
    assert body["max_output_tokens"] == h.settings.max_output_tokens
    assert body["reasoning"] == {"effort": "none"}
    assert body["input"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert "previous_response_id" not in body
    functions = [t for t in body["tools"] if t["type"] == "function"]
    assert [t["name"] for t in functions] == h.registry.names()
    assert all(t["strict"] is True for t in functions)
    # and the hosted web search (on by default; no location set: none sent, nor the API's US fallback)
    assert [t for t in body["tools"] if t["type"] != "function"] == [
        {"type": "web_search", "user_location": {"type": "approximate"}}
    ]
    assert request.headers["authorization"] == f"Bearer {h.secrets.openai_api_key}"
    assert request.headers.get("x-stainless-retry-count", "0") == "0"
    t = h.timings.marks()
    assert t["llm_request_start"] <= t["llm_first_delta"] <= t["llm_first_sentence"] <= t["llm_done"]
    assert h.error_kinds() == []


def test_follow_up_turn_continues_the_conversation(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    first, second = wire.text("Nice to meet you, Ada."), wire.text("Your name is Ada.")
    server.then(first, second)
    h.ask("My name is Ada.")
    assert h.ask("What is my name?") == ["Your name is Ada."]
    body = server.bodies()[1]
    assert body["previous_response_id"] == first.response_id
    assert body["input"] == [{"role": "user", "content": "What is my name?"}]
    assert body["instructions"] == h.settings.instructions and body["tools"]
    assert h.assistant.previous_response_id == second.response_id


# --- tools --------------------------------------------------------------------------------------------


def test_one_function_call_then_the_answer(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    call = wire.calls(("lookup", {"city": "Paris"}))
    server.then(call, wire.text("It is sunny in Paris."))
    assert h.ask("Weather in Paris?") == ["It is sunny in Paris."]

    first, second = server.bodies()
    assert second["previous_response_id"] == call.response_id
    assert second["input"] == [
        {"type": "function_call_output", "call_id": call.call_ids[0], "output": "Sunny in Paris"}
    ]
    assert second["instructions"] == first["instructions"] and second["tools"] == first["tools"]
    [event] = h.tool_calls()
    assert (event.tool, event.call_id, json.loads(event.arguments), event.ok) == (
        "lookup",
        call.call_ids[0],
        {"city": "Paris"},
        True,
    )
    assert event.ms >= 0
    assert server.rejected == []


def test_parallel_calls_and_two_rounds(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    """Two calls in one response run at the same time (each waits for the other at a barrier)."""
    h = Harness(cloud)
    round1 = wire.calls(("meet", {"name": "Ann"}), ("meet", {"name": "Bob"}))
    round2 = wire.calls(("set_volume", {"percent": 30}))
    server.then(round1, round2, wire.text("Done, the volume is thirty percent."))
    assert h.ask("Meet them and turn it down.") == ["Done, the volume is thirty percent."]

    bodies = server.bodies()
    assert len(bodies) == 3
    assert bodies[1]["previous_response_id"] == round1.response_id
    assert [i["call_id"] for i in bodies[1]["input"]] == round1.call_ids
    assert outputs(bodies[1]) == {round1.call_ids[0]: "met Ann", round1.call_ids[1]: "met Bob"}
    assert bodies[2]["previous_response_id"] == round2.response_id
    assert outputs(bodies[2]) == {round2.call_ids[0]: "The volume is now 30 percent."}
    assert h.controls.volume() == 0.3
    assert sorted(e.call_id for e in h.tool_calls()) == sorted(round1.call_ids + round2.call_ids)
    assert all(e.ok for e in h.tool_calls()) and server.rejected == []


def test_text_before_a_call_is_spoken_before_the_tool_runs(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud)
    server.then(wire.calls(("lookup", {"city": "Rome"}), text="Let me look that up."), wire.text("Sunny."))
    assert h.ask("Weather in Rome?") == ["Let me look that up.", "Sunny."]
    assert h.seen_by_tools == [["Let me look that up."]]


def test_malformed_unknown_and_invalid_calls_are_answered_with_errors(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud)
    bad = wire.calls(("lookup", '{"city": "Par'), ("launch_rocket", {"target": "moon"}), ("lookup", {"city": 7}))
    server.then(bad, wire.text("Sorry, I could not do that."))
    assert h.ask("Do things.") == ["Sorry, I could not do that."]

    answers = outputs(server.bodies()[1])
    assert list(answers) == bad.call_ids
    malformed, unknown, invalid = (answers[c] for c in bad.call_ids)
    assert malformed.startswith("Error: the arguments are not valid JSON")
    assert "no tool named 'launch_rocket'" in unknown and "lookup" in unknown
    assert "arguments.city must be string, not an integer" in invalid
    assert h.error_kinds() == ["bad_tool_call"] * 3
    assert [e.ok for e in h.tool_calls()] == [False] * 3
    assert h.seen_by_tools == []  # nothing ran
    assert server.rejected == []


def test_tool_exception_and_timeout(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(tool_timeout=0.3))
    calls = wire.calls(("explode", {}), ("slow", {"seconds": 10}), ("lookup", {"city": "Oslo"}))
    server.then(calls, wire.text("One of them worked."))
    started = time.monotonic()
    assert h.ask("Try all three.") == ["One of them worked."]
    assert time.monotonic() - started < 3.0  # the slow tool did not hold the turn

    answers = outputs(server.bodies()[1])
    assert answers[calls.call_ids[0]] == "Error: the tool explode failed (RuntimeError: sensor unplugged)."
    assert answers[calls.call_ids[1]] == "Error: the tool slow took longer than 0.3 seconds and was stopped."
    assert answers[calls.call_ids[2]] == "Sunny in Oslo"
    assert sorted(h.error_kinds()) == ["tool_failed", "tool_timeout"]
    assert {e.tool: e.ok for e in h.tool_calls()} == {"explode": False, "slow": False, "lookup": True}
    assert h.tool_tokens[0].cancelled  # the timed-out tool was told to stop


def test_max_tool_rounds_then_apology_and_the_calls_are_answered_next_turn(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud, fast_settings(max_tool_rounds=2))
    rounds = [wire.calls(("lookup", {"city": f"City{i}"})) for i in range(3)]
    server.then(*rounds)
    assert h.ask("Loop forever.") == [TOO_MANY_ROUNDS]
    assert len(server.requests) == 3
    assert [e.call_id for e in h.tool_calls()] == [rounds[0].call_ids[0], rounds[1].call_ids[0]]
    assert h.error_kinds() == ["too_many_rounds"]

    server.then(wire.text("Hello again."))
    assert h.ask("Hi.") == ["Hello again."]
    body = server.bodies()[3]
    assert body["previous_response_id"] == rounds[2].response_id
    assert body["input"] == [
        {"type": "function_call_output", "call_id": rounds[2].call_ids[0], "output": NOT_RUN_OUTPUT},
        {"role": "user", "content": "Hi."},
    ]
    assert server.rejected == []


def test_stop_tool_ends_the_turn_without_another_request(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    stop = wire.calls(("stop", {}))
    server.then(stop)
    assert h.ask("Stop.") == []
    assert h.controls.stopped == 1 and len(server.requests) == 1
    server.then(wire.text("Yes?"))
    h.ask("Are you there?")
    body = server.bodies()[1]
    assert body["previous_response_id"] == stop.response_id
    assert outputs(body) == {stop.call_ids[0]: "Stopped."}
    assert server.rejected == []


def test_reset_tool_forgets_the_conversation_after_the_turn(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud)
    server.then(wire.text("Noted, Ada."))
    h.ask("My name is Ada.")
    reset = wire.calls(("reset_conversation", {}))
    server.then(reset, wire.text("Forgotten."), wire.text("I don't know your name."))
    assert h.ask("Forget everything.") == ["Forgotten."]
    assert server.bodies()[2]["previous_response_id"] == reset.response_id  # the call is still answered
    assert h.ask("What is my name?") == ["I don't know your name."]
    assert "previous_response_id" not in server.bodies()[3]
    assert server.rejected == []


# --- network failures -----------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_after_the_wait(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(Status(429, "Rate limit reached", retry_after=0.4), wire.text("Here you go."))
    assert h.ask("Hi.") == ["Here you go."]
    first, second = server.requests
    assert second.time - first.time >= 0.4
    assert first.json == second.json
    assert h.error_kinds() == ["rate_limited"]
    assert "retrying" in h.events.of(Error)[0].message


def test_retry_after_beyond_the_deadline_gives_up_at_once(cloud: FakeCloud, server: ResponsesServer) -> None:
    h = Harness(cloud, fast_settings(deadline=3.0))
    server.then(Status(429, "Rate limit reached", retry_after=30))
    started = time.monotonic()
    with pytest.raises(ApplianceError) as caught:
        h.ask("Hi.")
    assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.retryable
    assert time.monotonic() - started < 2.0
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (Status(429, "You exceeded your current quota", code="insufficient_quota"), ErrorKind.QUOTA),
        (Status(401, "Incorrect API key provided"), ErrorKind.AUTH),
        (Status(400, "Invalid value for 'input'"), ErrorKind.BAD_REQUEST),
    ],
)
def test_errors_that_are_not_retried(cloud: FakeCloud, server: ResponsesServer, reply: Any, kind: ErrorKind) -> None:
    h = Harness(cloud)
    server.then(reply)
    with pytest.raises(ApplianceError) as caught:
        h.ask("Hi.")
    assert caught.value.kind is kind and not caught.value.retryable
    assert len(server.requests) == 1
    assert h.error_kinds() == []  # the app reports the raised error; nothing is reported twice


def test_500_then_success(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(Status(500, "The server had an error"), Status(503, "Overloaded"), wire.text("Fine now."))
    assert h.ask("Hi.") == ["Fine now."]
    assert len(server.requests) == 3
    assert h.error_kinds() == ["server", "server"]


def test_stall_hits_the_read_timeout_and_is_retried(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(read_timeout=0.4))
    server.then(Stall(10), wire.text("Back again."))
    started = time.monotonic()
    assert h.ask("Hi.") == ["Back again."]
    assert time.monotonic() - started < 3.0
    assert len(server.requests) == 2 and h.error_kinds() == ["timeout"]


def test_a_dead_network_raises_a_typed_error_within_the_deadline(cloud: FakeCloud, server: ResponsesServer) -> None:
    h = Harness(cloud, fast_settings(read_timeout=0.3, deadline=1.5, max_retries=10))
    server.then(*[Stall(10) for _ in range(10)])
    started = time.monotonic()
    with pytest.raises(ApplianceError) as caught:
        h.ask("Hi.")
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2.5
    assert 2 <= len(server.requests) <= 5


def test_connection_refused_is_a_connection_error() -> None:
    with FakeCloud() as gone:
        env = gone.env()
    registry = ToolRegistry()
    assistant = ResponsesAssistant(
        fast_settings(deadline=2.0, max_retries=1),
        Secrets.from_env(env),
        registry,
        lambda cancel, emit: None,  # type: ignore[arg-type,return-value]
        transport="http",
    )
    events = Recorder()
    with pytest.raises(ApplianceError) as caught:
        list(assistant.respond("Hi.", CancelToken(), events))
    assert caught.value.kind is ErrorKind.CONNECTION and caught.value.retryable
    assert [e.kind for e in events.of(Error)] == ["connection"]  # the one retry


def test_recovers_by_itself_when_the_network_returns(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(max_retries=1))
    before = wire.text("Hello.")
    server.then(before, Reset(), Reset())
    h.ask("Hi.")
    with pytest.raises(ApplianceError) as caught:
        h.ask("Are you there?")
    assert caught.value.kind is ErrorKind.CONNECTION
    server.then(wire.text("I am back."))
    assert h.ask("And now?") == ["I am back."]
    bodies = server.bodies()
    assert len(bodies) == 4
    assert bodies[3]["previous_response_id"] == before.response_id  # the conversation survived the outage
    assert server.rejected == []


def test_disconnect_before_any_text_is_retried(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    cut = wire.text("Hello there.")
    cut.cut(disconnect_after=cut.index("response.output_text.delta"))
    server.then(cut, wire.text("Hello there."))
    assert h.ask("Hi.") == ["Hello there."]
    first, second = server.bodies()
    assert first == second
    assert h.error_kinds() == ["connection"]


def test_disconnect_after_text_ends_with_an_apology(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    before = wire.text("We spoke before.")
    server.then(before)
    h.ask("Hello.")
    cut = wire.text(
        "The first part is here. The second part never arrives.",
        chunks=["The first part", " is here.", " The second", " part never arrives."],
    )
    cut.cut(disconnect_after=cut.index("response.output_text.delta", 3))
    server.then(cut)
    assert h.ask("Tell me.") == ["The first part is here.", LOST_CONNECTION]
    assert len(server.requests) == 2  # text was spoken: no second attempt
    assert h.error_kinds() == ["connection"]
    assert "cut short" in h.events.of(Error)[0].message
    # the cut response is never the anchor: the next turn continues from the last complete one
    server.then(wire.text("Where were we?"))
    h.ask("Go on.")
    assert server.bodies()[2]["previous_response_id"] == before.response_id
    assert server.rejected == []


def test_stall_after_the_first_sentence(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    """The first sentence is spoken while the rest has not even been sent: streaming, not gathering."""
    h = Harness(cloud, fast_settings(read_timeout=0.4))
    stalled = wire.text("Here is a start. And the rest.", chunks=["Here is a start.", " And", " the rest."])
    stalled.cut(stall_after=stalled.index("response.output_text.delta", 2))
    server.then(stalled)
    assert h.ask("Go.") == ["Here is a start.", LOST_CONNECTION]
    assert h.error_kinds() == ["timeout"]


def test_response_failed_is_retried(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.failed("server_error"), wire.text("Second try worked."))
    assert h.ask("Hi.") == ["Second try worked."]
    assert len(server.requests) == 2 and h.error_kinds() == ["server"]


def test_response_failed_for_the_prompt_is_not_retried(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.failed("invalid_prompt", "The prompt was flagged."))
    with pytest.raises(ApplianceError) as caught:
        h.ask("Hi.")
    assert caught.value.kind is ErrorKind.RESPONSE_FAILED and "invalid_prompt" in caught.value.message
    assert len(server.requests) == 1


def test_error_event_before_and_after_text(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.error("server_error"), wire.text("Recovered."))
    assert h.ask("Hi.") == ["Recovered."]
    server.then(wire.error("server_error", text="Half an answer. And"))
    assert h.ask("Again.") == ["Half an answer.", LOST_CONNECTION]
    assert len(server.requests) == 3
    assert h.error_kinds() == ["server", "server"]


def test_previous_response_not_found_starts_afresh_once(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    old = wire.text("Noted.")
    server.then(old)
    h.ask("Remember this.")
    server.forget(old.response_id)
    fresh = wire.text("Starting over.")
    server.then(fresh)
    assert h.ask("Do you remember?") == ["Starting over."]
    bodies = server.bodies()
    assert bodies[1]["previous_response_id"] == old.response_id
    assert server.rejected == [(2, f"Previous response with id '{old.response_id}' not found.")]
    assert "previous_response_id" not in bodies[2]
    assert bodies[2]["input"] == [{"role": "user", "content": "Do you remember?"}]
    assert [e.what for e in h.events.of(Info)] == ["conversation_restarted"]
    assert h.error_kinds() == []
    assert h.assistant.previous_response_id == fresh.response_id


# --- cancellation -------------------------------------------------------------------------------------


def cancel_when(event: threading.Event, token: CancelToken, stamp: list[float]) -> threading.Event:
    """Press "the button" from another thread once ``event`` is set; the returned event says it was."""
    pressed = threading.Event()

    def run() -> None:
        if event.wait(5):
            stamp.append(time.monotonic())
            token.cancel("button")
            pressed.set()

    threading.Thread(target=run, daemon=True).start()
    return pressed


def test_cancel_in_the_middle_of_a_stream(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(read_timeout=5.0))
    before = wire.text("Hello.")
    server.then(before)
    h.ask("Hi.")
    long = wire.text("First sentence. Second one. " + "More words here. " * 40, chunk_size=12)
    long.cut(stall_after=long.index("response.output_text.delta", 2), stall_seconds=10)  # then silence
    server.then(long)
    token = CancelToken()
    first = threading.Event()
    stamp: list[float] = []
    cancel_when(first, token, stamp)
    got = []
    for piece in h.assistant.respond("Talk a lot.", token, h.events):  # blocks in the stalled stream
        got.append(piece.text)
        first.set()
    ended = time.monotonic()
    assert got == ["First sentence."]
    assert ended - stamp[0] < 1.0  # not the 5 s read timeout (scripts measure the real figure)
    assert h.error_kinds() == []
    # the cut response is not used: the next request continues from the last complete one
    server.then(wire.text("Yes?"))
    h.ask("Are you still there?")
    assert server.bodies()[2]["previous_response_id"] == before.response_id
    assert server.rejected == []


def test_cancel_while_waiting_for_the_server(cloud: FakeCloud, server: ResponsesServer) -> None:
    h = Harness(cloud, fast_settings(read_timeout=5.0, connect_timeout=5.0))
    server.then(Stall(10))
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    started = time.monotonic()
    assert list(h.assistant.respond("Hi.", token, h.events)) == []
    assert time.monotonic() - started < 0.6
    assert h.error_kinds() == []


def test_cancel_during_backoff(cloud: FakeCloud, server: ResponsesServer) -> None:
    h = Harness(cloud, fast_settings(deadline=20.0))
    server.then(Status(429, "slow down", retry_after=5))
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    started = time.monotonic()
    assert list(h.assistant.respond("Hi.", token, h.events)) == []
    assert time.monotonic() - started < 0.6
    assert len(server.requests) == 1


def test_cancel_during_a_tool_leaves_no_orphaned_call(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(tool_timeout=10.0))
    calls = wire.calls(("slow", {"seconds": 10}), ("lookup", {"city": "Oslo"}))
    server.then(calls)
    token = CancelToken()
    stamp: list[float] = []
    looked_up = threading.Event()

    def quick_one_done() -> None:
        h.events.wait_for(lambda e: isinstance(e, ToolCall) and e.tool == "lookup", timeout=5)
        h.tool_started.wait(5)
        looked_up.set()

    threading.Thread(target=quick_one_done, daemon=True).start()
    cancel_when(looked_up, token, stamp)
    assert list(h.assistant.respond("Slow please.", token, h.events)) == []
    assert time.monotonic() - stamp[0] < 1.0  # not the tool's 10 s
    assert h.tool_tokens[0].cancelled  # the pending tool was told to stop
    assert len(server.requests) == 1  # no request with half the outputs

    server.then(wire.text("What now?"))
    assert h.ask("Never mind.") == ["What now?"]
    body = server.bodies()[1]
    assert body["previous_response_id"] == calls.response_id
    assert body["input"] == [
        {"type": "function_call_output", "call_id": calls.call_ids[0], "output": CANCELLED_OUTPUT},
        {"type": "function_call_output", "call_id": calls.call_ids[1], "output": "Sunny in Oslo"},
        {"role": "user", "content": "Never mind."},
    ]
    assert server.rejected == []


# --- conversation lifetime -------------------------------------------------------------------------------


def test_conversation_expires_after_the_idle_time(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    clock = FakeClock()
    h = Harness(cloud, fast_settings(conversation_idle_seconds=300), clock=clock)
    first, second = wire.text("One."), wire.text("Two.")
    server.then(first, second, wire.text("Three."))
    h.ask("First.")
    clock.now += 299
    h.ask("Second.")
    assert server.bodies()[1]["previous_response_id"] == first.response_id
    clock.now += 301
    h.ask("Third.")
    assert "previous_response_id" not in server.bodies()[2]
    assert [e.what for e in h.events.of(Info)] == ["conversation_expired"]


def test_reset_forgets_the_conversation(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.text("One."), wire.text("Two."))
    h.ask("First.")
    h.assistant.reset()
    assert h.assistant.previous_response_id is None
    h.ask("Second.")
    assert "previous_response_id" not in server.bodies()[1]


# --- the client and its errors ----------------------------------------------------------------------------


def test_make_openai_client_uses_the_secrets_only(cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    settings = fast_settings(connect_timeout=2.0, read_timeout=7.0, max_retries=3)
    secrets = Secrets.from_env(cloud.env())
    client = make_openai_client(settings, secrets)
    assert client.api_key == secrets.openai_api_key
    assert str(client.base_url).rstrip("/") == cloud.openai_base_url
    assert client.max_retries == 3
    assert (client.timeout.connect, client.timeout.read) == (2.0, 7.0)
    whole = Settings(assistant=settings, secrets=secrets)
    assert make_openai_client(whole, max_retries=0).max_retries == 0
    with pytest.raises(ApplianceError) as caught:
        make_openai_client(settings, Secrets(openai_base_url=cloud.openai_base_url))
    assert caught.value.kind is ErrorKind.CONFIG


@pytest.mark.parametrize(
    ("reply", "kind", "retryable"),
    [
        (Status(400, "Invalid value"), ErrorKind.BAD_REQUEST, False),
        (Status(401, "Incorrect API key"), ErrorKind.AUTH, False),
        (Status(403, "Not allowed in your region"), ErrorKind.AUTH, False),
        (Status(404, "No such model"), ErrorKind.BAD_REQUEST, False),
        (Status(408, "Request timeout"), ErrorKind.TIMEOUT, True),
        (Status(409, "Conflict"), ErrorKind.SERVER, True),
        (Status(429, "Slow down"), ErrorKind.RATE_LIMITED, True),
        (Status(429, "Quota exceeded", code="insufficient_quota"), ErrorKind.QUOTA, False),
        (Status(500, "Oops"), ErrorKind.SERVER, True),
        (Status(503, "Overloaded"), ErrorKind.SERVER, True),
        (Reset(), ErrorKind.CONNECTION, True),
        (Stall(5), ErrorKind.TIMEOUT, True),
    ],
)
def test_classify_openai_error(cloud: FakeCloud, reply: Any, kind: ErrorKind, retryable: bool) -> None:
    client = make_openai_client(fast_settings(read_timeout=0.3), Secrets.from_env(cloud.env()), max_retries=0)
    cloud.script("responses", reply)
    with pytest.raises(openai.OpenAIError) as caught:
        client.responses.create(model="gpt-6-luna", input="hi")
    error = classify_openai_error(caught.value)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert error.stage == "assistant"
    assert not is_previous_response_missing(caught.value)


def test_previous_response_missing_is_recognised(cloud: FakeCloud) -> None:
    client = make_openai_client(fast_settings(), Secrets.from_env(cloud.env()), max_retries=0)
    cloud.script(
        "responses",
        Status(400, "Previous response with id 'resp_x' not found."),
        Status(404, "Previous response with id 'resp_x' not found.", code="previous_response_not_found"),
    )
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as caught:
            client.responses.create(model="gpt-6-luna", input="hi", previous_response_id="resp_x")
        assert is_previous_response_missing(caught.value)


def test_the_key_never_reaches_the_events(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    key = h.secrets.openai_api_key
    server.then(Status(500, f"bad key {key}"), wire.calls(("explode", {})), wire.text("Done."))
    h.ask("Hi.")
    assert h.error_kinds() == ["server", "tool_failed"]
    assert all(key not in json.dumps(e.to_dict()) for e in h.events.events)


def test_script_events_parse_with_the_sdk(wire: Wire) -> None:
    """The wire builder's events are what the SDK's own types expect (field names and discriminators)."""
    from openai._models import construct_type
    from openai.types.responses import ResponseStreamEvent

    scripts: list[Script] = [
        wire.text("Hi."),
        wire.calls(("lookup", {"city": "Oslo"}), text="One moment."),
        wire.failed(),
        wire.error(),
    ]
    for script in scripts:
        numbers = [e["sequence_number"] for e in script.events]
        assert numbers == list(range(len(numbers)))
        for raw in script.events:
            event = construct_type(type_=ResponseStreamEvent, value=raw)
            assert type(event).__name__ != "dict" and event.type == raw["type"]
            if hasattr(type(event), "model_fields"):
                missing = [
                    name for name, info in type(event).model_fields.items() if info.is_required() and name not in raw
                ]
                assert missing == [], f"{raw['type']} lacks {missing}"


# --- one deadline per turn (issue 13) ----------------------------------------------------------------------


def timed_ask(
    h: Harness, text: str, deadline: Deadline, **kwargs: Any
) -> tuple[list[str], ApplianceError | None, float]:
    said: list[str] = []
    started = time.monotonic()
    try:
        for piece in h.assistant.respond(text, CancelToken(), h.events, deadline=deadline, **kwargs):
            said.append(piece.text)
    except ApplianceError as exc:
        return said, exc, time.monotonic() - started
    return said, None, time.monotonic() - started


def test_a_trickling_answer_ends_at_the_deadline(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(read_timeout=1.0))
    # one delta every 0.4 s (under the 1 s read timeout): 60 s to finish a sentence that never ends early
    server.then(wire.trickle("so " * 60 + "that is it.", every=0.4, chunk_size=3))
    said, error, took = timed_ask(h, "Tell me.", Deadline(2.0))
    assert said == []
    assert error is not None and error.kind is ErrorKind.TIMEOUT and "2 s" in error.message
    assert 1.8 < took < 4.0  # without the deadline: 24 s (the slack is for a loaded machine)
    assert len(server.requests) == 1  # no retry: the deadline is spent


def test_a_trickle_after_the_first_sentence_ends_with_an_apology(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud, fast_settings(read_timeout=1.0))
    chunks = ["Sure thing. Now", *[" and" for _ in range(40)]]  # the first delta holds a whole sentence
    script = wire.text("".join(chunks), chunks=chunks).cut(delay=0.4)
    server.then(script)
    said, error, took = timed_ask(h, "Tell me.", Deadline(3.0))
    assert error is None
    assert said == ["Sure thing.", LOST_CONNECTION]
    assert took < 5.0
    [timeout] = [e for e in h.events.of(Error) if e.kind == "timeout"]
    assert "cut short" in timeout.message
    assert h.assistant.previous_response_id is None  # the cut-off response is not the conversation


def test_time_spent_saying_the_answer_does_not_count(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.text("One. Two. Three. Four."))
    said: list[str] = []
    hold = threading.Event()
    for piece in h.assistant.respond("Count.", CancelToken(), h.events, deadline=Deadline(1.5)):
        said.append(piece.text)
        hold.wait(0.6)  # the speaker takes its time over each sentence: 2.4 s in all
    assert said == ["One.", "Two.", "Three.", "Four."]
    assert h.error_kinds() == []


def test_a_runaway_answer_is_capped_at_a_sentence_end_and_the_queue_stays_bounded(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud, max_answer_chars=400)
    runaway = wire.runaway("And there is more to say about that. ")
    server.then(runaway)
    said: list[str] = []
    slow = threading.Event()
    for piece in h.assistant.respond("Go on.", CancelToken(), h.events, deadline=Deadline(5.0)):
        said.append(piece.text)
        slow.wait(0.05)  # a slow speaker: the stream must wait, not pile up
    spoken = " ".join(said)
    assert 400 <= len(spoken) < 400 + 40 and spoken.endswith("that.")
    assert all(piece == "And there is more to say about that." for piece in said)
    assert h.assistant.queue_high_water == QUEUE_CAPACITY  # the reader was held back at the queue's size
    assert any(isinstance(e, Info) and e.what == "answer_capped" for e in h.events.events)
    assert h.error_kinds() == []


def test_a_runaway_answer_without_a_cap_ends_at_the_deadline(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud, max_answer_chars=10_000_000)
    server.then(wire.runaway("More words here, ", every=0.002))
    said, error, took = timed_ask(h, "Go on.", Deadline(1.5))
    assert error is None and said and said[-1] == LOST_CONNECTION
    assert took < 3.5  # without the deadline it would never end
    assert "timeout" in h.error_kinds()


def test_slowly_streamed_call_arguments_end_at_the_deadline(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud, fast_settings(read_timeout=1.0))
    server.then(wire.endless_arguments("lookup", total_chars=1_000_000, chunk="x" * 64, every=0.05))
    said, error, took = timed_ask(h, "Look it up.", Deadline(2.0))
    assert said == [] and error is not None and error.kind is ErrorKind.TIMEOUT
    assert took < 4.0  # without the deadline: 50 s
    assert h.events.of(ToolCall) == []  # nothing half-received was run


def test_a_megabyte_of_call_arguments_is_refused_not_held(
    cloud: FakeCloud, server: ResponsesServer, wire: Wire
) -> None:
    h = Harness(cloud)
    server.then(wire.endless_arguments("lookup", total_chars=1_000_000, chunk="x" * 512))
    said, error, took = timed_ask(h, "Look it up.", Deadline(5.0))
    assert said == [] and error is not None and error.kind is ErrorKind.RESPONSE_FAILED
    assert "lookup" in error.message and len(server.requests) == 1  # not retried: it would run away again


def test_a_tool_gets_only_what_is_left_of_the_deadline(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud, fast_settings(tool_timeout=10.0))
    calls = wire.calls(("slow", {"seconds": 10}))
    server.then(calls)
    said, error, took = timed_ask(h, "Slowly.", Deadline(1.5))
    assert said == [] and error is not None and error.kind is ErrorKind.TIMEOUT
    assert took < 3.5  # without the deadline: the tool's 10 s
    assert h.tool_tokens[0].cancelled
    [call] = h.events.of(ToolCall)
    assert not call.ok and "tool_timeout" in h.error_kinds()
    # the call was answered (with its timeout), so the next turn's conversation stays clean
    server.then(wire.text("Done."))
    assert h.ask("And now?") == ["Done."]
    assert server.bodies()[1]["input"][0]["call_id"] == calls.call_ids[0]
    assert "took longer than" in server.bodies()[1]["input"][0]["output"]
    assert server.rejected == []


def test_the_turn_timings_get_the_model_marks(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    server.then(wire.text("Hello there. How are you?"))
    timings = TurnTimings()
    assert [p.text for p in h.assistant.respond("Hi.", CancelToken(), h.events, timings=timings)] == [
        "Hello there.",
        "How are you?",
    ]
    marks = timings.marks()
    order = ["llm_request_start", "llm_first_delta", "llm_first_sentence", "llm_done"]
    assert [marks[m] for m in order] == sorted(marks[m] for m in order)
    assert timings.spans_ms()["request_to_first_delta_ms"] >= 0


# --- fragments for streaming speech (issue 15) -------------------------------------------------------------


def test_fragments_put_together_are_the_sentences(cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
    h = Harness(cloud)
    text = "Hello! The capital of France is **Paris**. See https://www.paris.fr/visit for more, or ask me again."
    server.then(wire.text(text, chunk_size=3), wire.text(text, chunk_size=3))
    sentences = h.ask("Capital?")
    pieces = list(h.assistant.respond("Again?", CancelToken(), h.events, fragments=True))
    fragments = [p.text for p in pieces]
    assert "".join(fragments) == " ".join(sentences)
    assert len(fragments) > len(sentences)
    assert all(isinstance(p, Piece) for p in pieces)
    assert [p for p in pieces if p.sentence_end][-1] == pieces[-1]
    assert not any("*" in f or "https" in f for f in fragments)
