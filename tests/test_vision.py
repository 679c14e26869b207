"""Vision end to end: the describe_image tool through the real openai SDK against the local fake cloud.

No SDK is mocked: the SDK talks HTTP to standin/cloud.py, and the tests assert what the server received.
"""

from __future__ import annotations

import base64
import json
import types
from pathlib import Path
from typing import Any

import openai
import pytest
from doubles import Controls

from appliance.camera import tool
from appliance.camera.files import FileCamera
from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, Settings
from appliance.events import Error, Info, Recorder, ToolCall
from appliance.ports import ToolContext
from standin.cloud import FakeCloud, Json, Status
from standin.responses import ResponsesServer, Wire

X_JPG = Path(__file__).resolve().parent / "data" / "x.jpg"
JPEG = X_JPG.read_bytes()
DATA_URL_PREFIX = "data:image/jpeg;base64,"


class LedRecorder:
    """ports.Indicators that remembers the camera LED's changes (the GPIO driver is tested elsewhere)."""

    def __init__(self) -> None:
        self.camera: list[bool] = []

    def show(self, pattern: str) -> None:
        pass

    def camera_led(self, on: bool) -> None:
        self.camera.append(on)

    def close(self) -> None:
        pass


def decoded_image(url: str) -> bytes:
    assert url.startswith(DATA_URL_PREFIX), url[:40]
    return base64.b64decode(url[len(DATA_URL_PREFIX) :])


def response_json(text: str, model: str = "vision-test") -> dict[str, Any]:
    """A completed, non-streamed Responses API object with one assistant message."""
    return {
        "id": "resp_vision_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": model,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 12,
            "total_tokens": 132,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


# --- end to end: the model calls describe_image, sees the photo, answers ---------------------------------


class RecordingLeds:
    """The real LED driver (gpiozero MockFactory) that also remembers each camera LED change."""

    def __init__(self, settings: Settings) -> None:
        from appliance.gpio.leds import Leds

        self.leds = Leds(settings.gpio)
        self.camera: list[bool] = []

    def show(self, pattern: str) -> None:
        self.leds.show(pattern)

    def camera_led(self, on: bool) -> None:
        self.camera.append(on)
        self.leds.camera_led(on)

    def close(self) -> None:
        self.leds.close()


@pytest.fixture
def appliance_parts(cloud: FakeCloud, mock_pins: Any) -> Any:
    """The real assistant (ResponsesAssistant, default tool registry) with a file camera and real LEDs,
    talking to a Responses server that checks every call is answered exactly once."""
    from appliance.llm.responses import ResponsesAssistant
    from appliance.tools import default_registry

    settings = Settings(secrets=Secrets(openai_api_key="sk-test-vision", openai_base_url=cloud.openai_base_url))
    parts = types.SimpleNamespace(
        settings=settings,
        controls=Controls(),
        camera=FileCamera(X_JPG),
        leds=RecordingLeds(settings),
        wire=Wire(),
        server=ResponsesServer(cloud),
        recorder=Recorder(),
        mock_pins=mock_pins,
    )

    def make_context(cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(
            controls=parts.controls,
            camera=parts.camera,
            indicators=parts.leds,
            cancel=cancel,
            emit=emit,
            settings=settings,
        )

    parts.assistant = ResponsesAssistant(
        settings.assistant, settings.secrets, default_registry(plugins=False), make_context, transport="http"
    )
    parts.assistant.warm()  # as the appliance's builder does over HTTP: the SDK's import is not the first turn's
    yield parts
    parts.leds.close()


def function_call_output(body: dict[str, Any]) -> dict[str, Any]:
    (item,) = [i for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return item


def test_model_sees_the_photo_in_the_tool_output_and_answers(appliance_parts: Any) -> None:
    p = appliance_parts
    call = p.wire.calls(("describe_image", {"question": "what is on the table?"}))
    p.server.then(call, p.wire.text("I see a red circle on a white background."))
    spoken = [piece.text for piece in p.assistant.respond("What do you see?", CancelToken(), p.recorder)]
    assert " ".join(spoken) == "I see a red circle on a white background."
    assert p.server.rejected == []
    first, second = p.server.bodies()
    tools = {t["name"]: t for t in first["tools"] if t["type"] == "function"}
    assert "describe_image" in tools and "question" in tools["describe_image"]["parameters"]["properties"]
    # the next request answers the call, with the same call_id, carrying the photo itself
    assert second["previous_response_id"] == call.response_id
    item = function_call_output(second)
    assert item["call_id"] == call.call_ids[0]
    text, image = item["output"]
    assert text["type"] == "input_text" and "what is on the table?" in text["text"]
    assert image["type"] == "input_image" and image["detail"] == "low"
    assert decoded_image(image["image_url"]) == JPEG
    # what the appliance reported, and the privacy LED: lit for the capture only
    (tool_call,) = p.recorder.of(ToolCall)
    assert (tool_call.tool, tool_call.call_id, tool_call.ok) == ("describe_image", call.call_ids[0], True)
    assert [e.what for e in p.recorder.of(Info) if e.what == "camera_capture"] == ["camera_capture"]
    assert p.recorder.of(Error) == []
    assert p.leds.camera == [True, False]
    assert p.mock_pins.pin(p.settings.gpio.camera_led_pin).state == 0


def test_camera_failure_reaches_the_model_as_text(appliance_parts: Any) -> None:
    p = appliance_parts
    p.camera = FileCamera(X_JPG, max_bytes=1024)
    call = p.wire.calls(("describe_image", {"question": None}))
    p.server.then(call, p.wire.text("Sorry, my camera isn't working right now."))
    spoken = [piece.text for piece in p.assistant.respond("What am I holding?", CancelToken(), p.recorder)]
    assert spoken == ["Sorry, my camera isn't working right now."]
    item = function_call_output(p.server.bodies()[1])
    assert item["call_id"] == call.call_ids[0]
    assert isinstance(item["output"], str) and item["output"].startswith("I couldn't use the camera: image too large")
    assert [e.kind for e in p.recorder.of(Error)] == ["camera"]
    assert p.leds.camera == [True, False]
    assert p.server.rejected == []


def test_muted_camera_is_refused_without_capturing(appliance_parts: Any) -> None:
    p = appliance_parts
    p.controls.allowed = False  # the microphone is muted
    call = p.wire.calls(("describe_image", {"question": None}))  # strict mode: null, not absent
    p.server.then(call, p.wire.text("My camera is switched off while I'm muted."))
    list(p.assistant.respond("What do you see?", CancelToken(), p.recorder))
    item = function_call_output(p.server.bodies()[1])
    assert item["call_id"] == call.call_ids[0]
    assert item["output"] == "The camera is switched off right now (the microphone is muted)."
    assert p.leds.camera == []
    assert "input_image" not in json.dumps(p.server.bodies())


# --- the optional separate vision request --------------------------------------------------------------


@pytest.fixture
def separate(cloud: FakeCloud) -> tuple[ToolContext, Recorder, LedRecorder]:
    """A tool context whose settings ask for the separate request; the client is the appliance's own
    (appliance.llm.client.make_openai_client) pointed at the fake cloud through the secrets."""
    settings = Settings(secrets=Secrets(openai_api_key="sk-test-vision", openai_base_url=cloud.openai_base_url))
    settings.camera.separate_request = True
    settings.camera.vision_model = "vision-test"
    recorder = Recorder()
    leds = LedRecorder()
    ctx = ToolContext(
        controls=Controls(),
        camera=FileCamera(X_JPG),
        indicators=leds,
        cancel=CancelToken(),
        emit=recorder,
        settings=settings,
    )
    return ctx, recorder, leds


def test_separate_request_returns_the_description(cloud: FakeCloud, separate: Any) -> None:
    ctx, recorder, leds = separate
    cloud.script("responses", Json(response_json("A red circle on a white background.")))
    out = tool.describe_image(ctx, "what shape is it?")
    assert out == ("Description of a photo taken just now by the device's camera: A red circle on a white background.")
    assert leds.camera == [True, False]
    (request,) = cloud.of("responses")
    body = request.json
    assert body["model"] == "vision-test"
    assert body["store"] is False and not body.get("stream")
    assert "previous_response_id" not in body  # never part of the conversation
    (message,) = body["input"]
    assert message["role"] == "user"
    text, image = message["content"]
    assert text["type"] == "input_text" and "what shape is it?" in text["text"]
    assert image["type"] == "input_image" and image["detail"] == "low"
    assert decoded_image(image["image_url"]) == JPEG
    assert request.headers["authorization"] == "Bearer sk-test-vision"
    assert recorder.of(Error) == []


def test_separate_request_failure_is_spoken_and_reported(cloud: FakeCloud, separate: Any) -> None:
    ctx, recorder, _ = separate
    cloud.script("responses", Status(400, "Invalid image"))
    out = tool.describe_image(ctx)
    assert isinstance(out, str) and out.startswith("I took a photo but couldn't describe it:")
    assert [(e.kind, e.stage) for e in recorder.of(Error)] == [("bad_request", "vision")]
    assert "Invalid image" in out
    assert len(cloud.of("responses")) == 1  # a 400 is not retried


def test_separate_request_without_key_is_spoken_and_reported(separate: Any) -> None:
    ctx, recorder, _ = separate
    ctx.settings.secrets = Secrets()
    out = tool.describe_image(ctx)
    assert isinstance(out, str) and "OPENAI_API_KEY is not set" in out
    assert [(e.kind, e.stage) for e in recorder.of(Error)] == [("config", "vision")]


def test_separate_request_client_hook(cloud: FakeCloud, separate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lead can hand the tool a client of its own (e.g. one shared with the assistant)."""
    ctx, _, _ = separate
    made: list[Settings] = []

    def factory(settings: Settings) -> openai.OpenAI:
        made.append(settings)
        return openai.OpenAI(api_key="sk-test-hook", base_url=cloud.openai_base_url, max_retries=0)

    monkeypatch.setattr(tool, "client_factory", factory)
    cloud.script("responses", Json(response_json("A red circle.")))
    assert tool.describe_image(ctx).endswith("A red circle.")
    assert made == [ctx.settings]
    assert cloud.of("responses")[0].headers["authorization"] == "Bearer sk-test-hook"
