"""Confirmation by voice (issue #27, part 3) in the assistant, against the fake cloud: a tool named in
``assistant.confirm`` is never run when the model calls it, only after a clear yes that comes in time; the
model is told when it was not done. The whole appliance (voice, MCP server, press) is tests/test_confirm_e2e.py."""

from __future__ import annotations

from typing import Any

from test_responses import FakeClock, Harness, fast_settings

from appliance.cancel import CancelToken
from appliance.events import Info, ToolCall
from appliance.tools.confirm import CONFIRM_SECONDS, NOT_CONFIRMED_OUTPUT, ONE_AT_A_TIME_OUTPUT, is_yes
from standin.responses import ResponsesServer, Wire


def outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {item["call_id"]: item["output"] for item in body["input"] if item.get("type") == "function_call_output"}


def ask(h: Harness, text: str) -> list[str]:
    return [p.text for p in h.assistant.respond(text, CancelToken(), h.events)]


def test_only_a_clear_short_yes_is_a_yes() -> None:
    for text in ("Yes.", "yes please", "Do it!", "Go ahead.", "Sure.", "Okay", "OK."):
        assert is_yes(text), text
    for text in ("", "No.", "yes, but not the front door", "Unlock the back door.", "maybe", "not sure", "yes no"):
        assert not is_yes(text), text


def test_a_tool_named_in_confirm_runs_only_after_a_yes(cloud) -> None:
    h = Harness(cloud, fast_settings(confirm=["lookup"]))
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("lookup", {"city": "Paris"}))
    server.then(call, wire.text("It is sunny in Paris."))
    assert ask(h, "Weather in Paris?") == ["Run lookup with city Paris?"]
    assert h.seen_by_tools == [] and len(server.bodies()) == 1  # not run, and the model not asked again
    assert h.assistant.pending_confirmation() == "Run lookup with city Paris?"
    h.assistant.settle_confirmation(True)
    assert ask(h, "Yes.") == ["It is sunny in Paris."]
    assert len(h.seen_by_tools) == 1
    second = server.bodies()[1]
    assert outputs(second) == {call.call_ids[0]: "Sunny in Paris"}
    assert second["input"][-1] == {"role": "user", "content": "Yes."}
    assert [(e.tool, e.ok) for e in h.events.of(ToolCall)] == [("lookup", True)]
    assert h.assistant.pending_confirmation() is None


def test_a_late_yes_a_no_or_a_reset_runs_nothing_and_the_model_is_told(cloud) -> None:
    clock = FakeClock()
    h = Harness(cloud, fast_settings(confirm=["lookup"]), clock=clock)
    server, wire = ResponsesServer(cloud), Wire()
    late = wire.calls(("lookup", {"city": "Paris"}))
    server.then(late, wire.text("I did not look."))
    assert ask(h, "Weather in Paris?") == ["Run lookup with city Paris?"]
    clock.now += CONFIRM_SECONDS + 1
    h.assistant.settle_confirmation(True)  # too late
    assert ask(h, "Yes.") == ["I did not look."]
    assert outputs(server.bodies()[1]) == {late.call_ids[0]: NOT_CONFIRMED_OUTPUT}

    said_no = wire.calls(("lookup", {"city": "Oslo"}))
    server.then(said_no, wire.text("Fine."))
    assert ask(h, "Weather in Oslo?") == ["Run lookup with city Oslo?"]
    h.assistant.settle_confirmation(False)
    assert ask(h, "No.") == ["Fine."]
    assert outputs(server.bodies()[3]) == {said_no.call_ids[0]: NOT_CONFIRMED_OUTPUT}

    server.then(wire.calls(("lookup", {"city": "Rome"})), wire.text("Hello."))
    assert ask(h, "Weather in Rome?") == ["Run lookup with city Rome?"]
    h.assistant.reset()  # a reset (mute, "new conversation") drops the question with the conversation
    assert h.assistant.pending_confirmation() is None
    h.assistant.settle_confirmation(True)
    assert ask(h, "Yes.") == ["Hello."]
    assert "previous_response_id" not in server.bodies()[5] and outputs(server.bodies()[5]) == {}
    assert h.seen_by_tools == []  # never run
    asked = [e.detail for e in h.events.of(Info) if e.what == "confirmation_asked"]
    assert asked == [f"lookup: Run lookup with city {c}?" for c in ("Paris", "Oslo", "Rome")]


def test_one_question_at_a_time_and_the_other_calls_run(cloud) -> None:
    h = Harness(cloud, fast_settings(confirm=["lookup", "explode"]))
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("lookup", {"city": "Paris"}), ("explode", {}), ("get_current_time", {}))
    server.then(call, wire.text("Done."))
    assert ask(h, "Paris weather, explode, and the time") == ["Run lookup with city Paris?"]
    h.assistant.settle_confirmation(True)
    assert ask(h, "Yes.") == ["Done."]
    got = outputs(server.bodies()[1])
    assert got[call.call_ids[0]] == "Sunny in Paris"
    assert got[call.call_ids[1]] == ONE_AT_A_TIME_OUTPUT
    assert got[call.call_ids[2]] and got[call.call_ids[2]] != NOT_CONFIRMED_OUTPUT  # the time ran at once
