"""Text from the model, the tools and the transcription is made safe once, where it enters (issue #31, 11).

A lone surrogate ("\\ud800", which a JSON string may carry as an escape) cannot be encoded as UTF-8: left in
a tool's argument it broke the next model request (the SDK cannot encode the body) and the JSON-lines sink
dropped every event that carried it. The stand-in cloud sends it the way a server would (escaped in the
JSON of the stream), and the real openai SDK reads it.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from doubles import Controls

from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets, SttSettings
from appliance.deadline import Deadline
from appliance.events import Error, EventBus, JsonLinesSink, Recorder, TimerChanged, ToolCall, Transcript
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.llm.responses import ResponsesAssistant
from appliance.ports import ToolContext
from appliance.retry import RetryPolicy
from appliance.stt.openai import OpenAITranscriber
from appliance.stt.realtime import RealtimeSession, RealtimeSttOptions
from appliance.text.clean import clean_json_text, clean_text
from appliance.timers.service import TimerService
from appliance.timers.tools import TIMER_TOOLS
from appliance.tools import ToolRegistry
from standin.cloud import FakeCloud
from standin.realtime import FakeRealtime, Script
from standin.responses import ResponsesServer, Wire
from standin.speech import transcript

LONE = "\ud800"


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- the function -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text, kept as it is", "plain text, kept as it is"),
        ("tabs\tand\nnew lines\r\n stay", "tabs\tand\nnew lines\r\n stay"),
        (LONE + "tea", "tea"),
        ("tea" + "\udfff", "tea"),
        ("a\udc00\ud800b", "ab"),
        (
            "\ud83d\ude00 a pair held as two halves is one character",
            "\U0001f600 a pair held as two halves is one character",
        ),
        ("\U0001f600 an emoji, ünïcödé and 中文 stay", "\U0001f600 an emoji, ünïcödé and 中文 stay"),
        ("nul\x00 bell\x07 escape\x1b[0m del\x7f c1\x9b", "nul bell escape[0m del c1"),
        ("form\x0cfeed, vertical\x0btab, next\x85line", "form feed, vertical tab, next line"),
        ("", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean  # once is enough
    assert encodable(clean_text(raw))


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('{"label": "\\ud800tea"}', {"label": "tea"}),  # escaped, as the JSON of a stream carries it
        ('{"label": "' + LONE + 'tea"}', {"label": "tea"}),  # decoded already
        ('{"l\\u0000abel": ["\\ud800a", {"b": "\\u0007c"}], "n": 3}', {"label": ["a", {"b": "c"}], "n": 3}),
    ],
)
def test_clean_json_text(raw: str, value: Any) -> None:
    cleaned = clean_json_text(raw)
    assert encodable(cleaned) and json.loads(cleaned) == value


def test_clean_json_text_leaves_clean_or_broken_json_as_it_came() -> None:
    assert clean_json_text('{"city":  "Paris"}') == '{"city":  "Paris"}'  # spacing and all
    assert clean_json_text('{"label": "\\u00e9t\\u00e9"}') == '{"label": "\\u00e9t\\u00e9"}'
    assert clean_json_text('{"label": "tea' + LONE) == '{"label": "tea'  # not JSON: the tool explains that


# --- the model and the tools, through the stand-in cloud -------------------------------------------------


class Appliance:
    """The assistant with the timer tools (and one tool whose output is not valid Unicode), its events on a
    bus read by a Recorder and written by the JSON-lines sink to a file, as ``appliance run --events`` does."""

    def __init__(self, cloud: FakeCloud, path: Path) -> None:
        self.bus = EventBus()
        self.recorder = Recorder()
        self.bus.subscribe(self.recorder)
        self.sink_file = path.open("w", encoding="utf-8")
        self.bus.subscribe(JsonLinesSink(self.sink_file))
        self.path = path
        self.timers = TimerService(None, lambda timer, missed: None, self.bus.emit)
        self.controls = Controls(allowed=False, timers=self.timers)
        registry = ToolRegistry()
        for function in TIMER_TOOLS:
            registry.register(function)

        def read_label(ctx: ToolContext) -> str:
            """The label printed on the kettle (a damaged sensor sends half a character)."""
            return "The kettle says " + LONE + "Earl Grey\x00."

        def broken_sensor(ctx: ToolContext) -> str:
            """A sensor whose error message is damaged."""
            raise RuntimeError("sensor " + LONE + " unplugged")

        registry.register(read_label)
        registry.register(broken_sensor)
        settings = AssistantSettings(connect_timeout=1.0, read_timeout=2.0, deadline=8.0, tool_timeout=2.0)
        self.assistant = ResponsesAssistant(
            settings,
            Secrets.from_env(cloud.env()),
            registry,
            self.make_context,
            retry_policy=RetryPolicy(max_retries=1, deadline=8.0, base=0.05, rng=random.Random(0)),
            transport="http",
        )

    def make_context(self, cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(controls=self.controls, camera=None, indicators=None, cancel=cancel, emit=emit)

    def ask(self, text: str) -> list[str]:
        return [p.text for p in self.assistant.respond(text, CancelToken(), self.bus.emit)]

    def written(self) -> list[dict[str, Any]]:
        self.sink_file.flush()
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def close(self) -> None:
        self.timers.close()
        self.sink_file.close()


def outputs(body: dict[str, Any]) -> list[Any]:
    return [item["output"] for item in body["input"] if item.get("type") == "function_call_output"]


def assert_every_event_was_written(app: Appliance) -> None:
    written = app.written()
    assert [line["event"] for line in written] == [e.name for e in app.recorder.events]
    assert all(encodable(json.dumps(line, ensure_ascii=False)) for line in written)


@pytest.mark.parametrize(
    "arguments",
    [{"seconds": 60, "label": LONE + "tea"}, '{"seconds": 60, "label": "' + LONE + 'tea"}'],
    ids=["escaped", "decoded"],
)
def test_a_lone_surrogate_in_a_tool_argument_sets_a_clean_timer_and_the_conversation_goes_on(
    cloud: FakeCloud, tmp_path: Path, arguments: Any
) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("set_timer", arguments))
    answer = wire.text("Your " + LONE + "tea timer is set.\x07")
    server.then(call, answer, wire.text("It has a minute left."))
    app = Appliance(cloud, tmp_path / "events.jsonl")
    try:
        assert app.ask("Set a tea timer for a minute.") == ["Your tea timer is set."]
        [timer] = app.timers.running()
        assert timer.label == "tea"
        assert [(e.action, e.label) for e in app.recorder.of(TimerChanged)] == [("set", "tea")]
        [tool_call] = app.recorder.of(ToolCall)
        assert tool_call.ok and json.loads(tool_call.arguments) == {"seconds": 60, "label": "tea"}
        # the next request carried the tool's output, and the one after it goes on from the answer
        assert app.ask("How long is left?") == ["It has a minute left."]
        first, second, third = server.bodies()
        assert outputs(second) == ["The tea timer is set for 1 minute."]
        assert "previous_response_id" not in first and second["previous_response_id"] == call.response_id
        assert third["previous_response_id"] == answer.response_id
        assert server.rejected == [] and app.recorder.of(Error) == []
        assert_every_event_was_written(app)
    finally:
        app.close()


def test_tool_outputs_and_tool_errors_are_clean_before_they_are_sent(cloud: FakeCloud, tmp_path: Path) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.calls(("read_label", {}), ("broken_sensor", {})), wire.text("It says Earl Grey."))
    app = Appliance(cloud, tmp_path / "events.jsonl")
    try:
        assert app.ask("What does the kettle say?") == ["It says Earl Grey."]
        _, second = server.bodies()
        assert outputs(second) == [
            "The kettle says Earl Grey.",
            "Error: the tool broken_sensor failed (RuntimeError: sensor  unplugged).",
        ]
        [error] = app.recorder.of(Error)
        assert error.message == "broken_sensor: RuntimeError: sensor  unplugged"
        assert server.rejected == []
        assert_every_event_was_written(app)
    finally:
        app.close()


# --- transcripts --------------------------------------------------------------------------------------


def test_a_batch_transcript_with_a_lone_surrogate_is_clean(cloud: FakeCloud) -> None:
    cloud.script("transcriptions", transcript("Set a " + LONE + "tea timer\x00."))
    secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    transcriber = OpenAITranscriber(SttSettings(timeout=2.0, max_retries=0), secrets)
    assert transcriber.transcribe(np.zeros(16000, np.int16), CancelToken()) == "Set a tea timer."


def test_a_streamed_transcript_with_a_lone_surrogate_is_clean_in_its_partials_too() -> None:
    key = "sk-test-realtime-0123456789"
    with FakeRealtime(api_key=key) as fake:
        fake.default(Script(transcript="Set a " + LONE + "tea timer for one minute.", deltas=3))
        endpoint = OpenAiEndpoint(api_key=key, base_url="http://127.0.0.1:9/v1", websocket_base_url=fake.ws_base_url)
        partials: list[str] = []
        options = RealtimeSttOptions(model="gpt-live-transcribe", connect_timeout=2.0, finish_timeout=2.0)
        session = RealtimeSession(endpoint, options, on_partial=partials.append)
        session.start()
        session.feed(np.zeros(16000, np.int16))
        assert session.finish(Deadline(5.0)) == "Set a tea timer for one minute."
        assert len(partials) == 3 and all(encodable(p) and LONE not in p for p in partials)


# --- the sink -----------------------------------------------------------------------------------------


def test_the_sink_writes_an_event_that_is_not_valid_unicode_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Belt and braces: an event that reached the sink without passing a sanitised entry is still written."""
    path = tmp_path / "events.jsonl"
    bus = EventBus()
    with path.open("w", encoding="utf-8") as stream:
        bus.subscribe(JsonLinesSink(stream, clock=lambda: 0.0, redact=lambda line: line.replace("sk-secret", "***")))
        with caplog.at_level(logging.WARNING, logger="appliance.events"):
            bus.emit(Transcript("sk-secret " + LONE + "tea"))
            bus.emit(Transcript("and the next one"))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"t": 0.0, "event": "transcript", "text": "*** tea"},
        {"t": 0.0, "event": "transcript", "text": "and the next one"},
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "event transcript carried a lone surrogate (not valid Unicode): written without it"
    ]


def test_the_sink_writes_every_event_to_a_stream_that_takes_only_ascii(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="ascii") as stream:  # e.g. stdout under a narrow locale
        sink = JsonLinesSink(stream, clock=lambda: 0.0)
        sink(Transcript("Wie spät ist es? \U0001f600"))
        sink(Transcript("ok"))
    lines = [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]
    assert [line["text"] for line in lines] == ["Wie spät ist es? \U0001f600", "ok"]
