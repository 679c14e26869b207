"""The ``describe_image`` tool: capture a frame and give it to the model.

By default the frame goes back **inside the tool's own output** (a ``function_call_output`` whose output is
a list of content parts: an ``input_text`` saying what to look for and an ``input_image`` with a base64
JPEG data URL), so the model answers from the picture in the very next request: no extra round trip.
With ``camera.separate_request`` the frame is described by one separate, non-streaming vision request and
the tool returns that text instead (see docs/vision.md for when that helps).

Privacy: the camera LED is lit only while the frame is captured, the camera is refused when disabled in
settings or while the microphone is muted, and the frame is written to disk only when debugging
(``debug.keep_audio``) is on.

Every failure becomes a short sentence the model can speak about (and an ``error`` event); the capture is
bounded by ``camera.capture_timeout``, so the turn never hangs here.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import Any

from appliance.config.settings import Settings
from appliance.debug_folder import DebugFolder
from appliance.errors import ApplianceError, CameraError, ErrorKind
from appliance.events import Error, Info
from appliance.ports import ToolContext

log = logging.getLogger(__name__)

TOOL_NAME = "describe_image"

TOOL_DESCRIPTION = (
    "Take a photo with the device's camera right now and look at it. Use this whenever answering needs "
    "sight: what do you see, what is this, what am I holding, read this label, what colour is it, how many. "
    "Pass `question` to say what to look for. The photo comes back to you with the result."
)

TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "question": {
            "type": "string",
            "description": 'What to look for in the photo, e.g. "what is the person holding?"',
        },
    },
    "required": [],
    "additionalProperties": False,
}

#: The separate vision request's client. The lead may set this to a factory (settings -> openai.OpenAI);
#: when None, ``appliance.llm.client.make_openai_client`` builds one.
client_factory: Callable[[Settings], Any] | None = None

VISION_INSTRUCTIONS = (
    "You describe a photo taken just now by a voice assistant's camera, for the assistant, which will "
    "answer the user aloud. Be factual and brief (two to four sentences). Answer the question if there is "
    "one; mention readable text, people, objects and colours that matter. Say when the photo is too dark "
    "or blurry to tell."
)


def describe_image(ctx: ToolContext, question: str | None = None) -> list[dict[str, Any]] | str:
    """Capture one frame; return the content parts for the function_call_output (or a spoken error)."""
    settings = ctx.settings if isinstance(ctx.settings, Settings) else Settings()
    camera_settings = settings.camera
    question = (question or "").strip() or None
    if not camera_settings.enabled:
        return "The camera is switched off in the settings."
    if ctx.camera is None:
        return "There is no camera on this device."
    if not ctx.controls.camera_allowed():
        return "The camera is switched off right now (the microphone is muted)."
    ctx.cancel.check()

    try:
        jpeg, ms = _capture(ctx)
    except CameraError as exc:
        log.warning("camera: %s", exc.message)
        ctx.emit(Error(kind=ErrorKind.CAMERA, stage="camera", message=exc.message))
        return f"I couldn't use the camera: {exc.message}."
    ctx.emit(Info("camera_capture", f"{len(jpeg)} bytes in {ms:.0f} ms"))
    ctx.cancel.check()
    if settings.debug.keep_audio:
        _keep_for_debugging(jpeg, settings)

    prompt = _prompt(question)
    url = data_url(jpeg)
    if camera_settings.separate_request:
        return _describe_separately(ctx, settings, prompt, url)
    return [
        {"type": "input_text", "text": prompt},
        {"type": "input_image", "image_url": url, "detail": camera_settings.detail},
    ]


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _prompt(question: str | None) -> str:
    if question:
        return f"A photo taken just now by the device's camera. What to look for: {question}"
    return "A photo taken just now by the device's camera. Describe what matters for the user's question."


def _capture(ctx: ToolContext) -> tuple[bytes, float]:
    """Capture with the camera LED lit for exactly as long as the capture (off again on any error)."""
    assert ctx.camera is not None
    indicators = ctx.indicators
    if indicators is not None:
        indicators.camera_led(True)
    start = time.monotonic()
    try:
        jpeg = ctx.camera.capture_jpeg()
    finally:
        if indicators is not None:
            indicators.camera_led(False)
    return jpeg, (time.monotonic() - start) * 1000


def _keep_for_debugging(jpeg: bytes, settings: Settings) -> None:
    """Into the bounded debugging folder; a folder that cannot take it is one log line (the answer does not
    depend on it)."""
    d = settings.debug
    path = DebugFolder(d.dir, d.keep_files, d.keep_mb).keep("camera", ".jpg", jpeg)
    if path is not None:
        log.info("camera: frame kept for debugging in %s", path)


# --- the optional separate vision request --------------------------------------------------------------


def _client(settings: Settings) -> Any:
    if client_factory is not None:
        return client_factory(settings)
    from appliance.llm.client import make_openai_client

    return make_openai_client(settings)


def _describe_separately(ctx: ToolContext, settings: Settings, prompt: str, url: str) -> str:
    """One non-streaming Responses request with the image; returns its text for the main model.

    One retry at most and the assistant's read timeout, so it fits in the tool's time limit."""
    import openai

    from appliance.llm.client import classify_openai_error

    camera_settings = settings.camera
    model = camera_settings.vision_model or settings.assistant.model
    try:
        client = _client(settings).with_options(timeout=settings.assistant.read_timeout, max_retries=1)
        response = client.responses.create(
            model=model,
            instructions=VISION_INSTRUCTIONS,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": prompt},
                        {"type": "input_image", "image_url": url, "detail": camera_settings.detail},
                    ],
                }
            ],
            store=False,  # the image stays out of any stored conversation
            max_output_tokens=300,
        )
    except (openai.APIError, ApplianceError) as exc:
        error = classify_openai_error(exc, stage="vision")
        log.warning("camera: the vision request failed: %s", error.message)
        ctx.emit(Error(kind=error.kind, stage="vision", message=error.message))
        return f"I took a photo but couldn't describe it: {error.message}."
    text = (response.output_text or "").strip()
    if not text:
        ctx.emit(Error(kind=ErrorKind.RESPONSE_FAILED, stage="vision", message="empty description"))
        return "I took a photo but couldn't describe it: the description came back empty."
    return f"Description of a photo taken just now by the device's camera: {text}"
