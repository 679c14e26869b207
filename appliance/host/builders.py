"""The ports that take more than a line to build, one builder each (appliance/host/wiring.py calls them in
order). Adapter modules are imported inside each builder: a missing optional piece only affects its port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from appliance.config.settings import Settings
from appliance.events import EventBus
from appliance.host.deferred import Deferred, DeferredAssistant, DeferredCommands, DeferredTranscriber
from appliance.host.startup import warm_up
from appliance.ports import (
    Alerts,
    Controls,
    Microphone,
    Speaker,
    Speech,
    ToolContext,
    Transcriber,
    WakeDetector,
    Warmable,
)

if TYPE_CHECKING:
    from appliance.household.service import Household
    from appliance.listening.endpoint.semantic import SemanticPolicy
    from appliance.mcp.manager import McpManager
    from appliance.speech.pipeline import SpeechPipeline
    from appliance.speech.streaming import StreamingSpeech
    from appliance.stt.streaming import StreamingTranscriber
    from appliance.timers.service import TimerService
    from appliance.tools.registry import ToolRegistry
    from appliance.wake.barge_in import BargeInDetector

log = logging.getLogger(__name__)

Closers = list[Callable[[], None]]


class TimerHooks(Protocol):
    """What the timers need of the app (appliance/core/app.py)."""

    def get_volume(self) -> float: ...

    def alert_stopped(self, reason: str) -> None: ...

    def timer_ended(self, label: str, missed: bool = False, timer: int = 0) -> None: ...


def front_end(settings: Settings, microphone: Microphone, speaker: Speaker) -> tuple[Microphone, Speaker, bool]:
    """The audio front end between the microphone and everything that listens, fed what the speaker plays
    as the echo reference. Returns the microphone and speaker to use and whether echoes are cancelled."""
    if not settings.frontend.enabled:
        return microphone, speaker, False
    from appliance.frontend.base import PassThroughFrontEnd, make_frontend
    from appliance.frontend.microphone import FrontEndMicrophone
    from appliance.frontend.reference import ReferenceBuffer, ReferenceSpeaker

    buffer = ReferenceBuffer()
    frontend = make_frontend(settings.frontend, buffer)
    cancels = settings.frontend.echo_cancellation and not isinstance(frontend, PassThroughFrontEnd)
    return FrontEndMicrophone(microphone, frontend), ReferenceSpeaker(speaker, buffer), cancels


def barge_in(settings: Settings, make_wake: Callable[[Settings], WakeDetector]) -> BargeInDetector | None:
    """Two more detectors, fed only while the appliance makes sound: on the raw microphone (the enrolled
    verifier is attached to it with the main detector's) and on the reference, whose scores veto its own voice."""
    from appliance.ports import WakeDetectorWithScores
    from appliance.wake.barge_in import BargeInDetector

    reference = make_wake(settings)
    if not isinstance(reference, WakeDetectorWithScores):
        log.warning("frontend.barge_in is off: the %r wake engine reports no scores", settings.wake.engine)
        return None
    return BargeInDetector(make_wake(settings), reference)


def end_of_turn(settings: Settings) -> SemanticPolicy | None:
    """The semantic end-of-turn policy; its model loads in the background (until then, and if it cannot
    load, the long pause ends each question)."""
    if settings.endpoint.mode != "semantic":
        return None
    from appliance.listening.endpoint.semantic import SemanticPolicy, load_model

    policy = SemanticPolicy(settings.endpoint, None)

    def load() -> None:
        policy.set_model(load_model(settings.endpoint.turn_threads))

    threading.Thread(target=load, name="turn-model", daemon=True).start()
    return policy


def transcriber(
    settings: Settings, make_stt: Callable[[Settings], Transcriber], bus: EventBus
) -> DeferredTranscriber | StreamingTranscriber:
    """The batch transcriber, built in the background; streaming in front of it when the settings ask (the batch
    upload is then only its fallback, built when a stream first fails: the SDK it imports holds ~30 MB)."""

    def make() -> Any:
        made = make_stt(settings)
        if isinstance(made, Warmable):
            made.warm()  # the SDK loads its resources on first access
        return made

    batch = DeferredTranscriber(make)
    if settings.stt.mode == "streaming" and settings.stt.provider == "openai":
        return streaming_transcriber(settings, batch, bus)
    batch.warm()
    return batch


def streaming_transcriber(settings: Settings, batch: DeferredTranscriber, bus: EventBus) -> StreamingTranscriber:
    """Transcription while the user speaks (OpenAI's realtime session), uploading the recording on failure: the
    first failure starts building ``batch`` in the background, so the SDK loads while the user may still speak."""
    from appliance.llm.openai_socket import OpenAiEndpoint
    from appliance.stt.realtime import RealtimeSttOptions
    from appliance.stt.streaming import StreamingTranscriber

    s = settings.stt
    options = RealtimeSttOptions(
        model=s.realtime_model,
        language=s.language,
        noise_reduction=s.realtime_noise_reduction,
        connect_timeout=s.realtime_connect_timeout,
        finish_timeout=s.realtime_finish_timeout,
    )
    once = threading.Lock()

    def prepare_fallback() -> None:
        if not batch.built and once.acquire(blocking=False):  # never released: one build in the background
            batch.warm()

    endpoint = OpenAiEndpoint.from_secrets(settings.secrets)
    streaming = StreamingTranscriber(endpoint, batch, options, bus.emit, prepare_fallback=prepare_fallback)
    threading.Thread(
        target=warm_up, args=("realtime transcription", streaming.warm), name="warm-up-realtime", daemon=True
    ).start()
    return streaming


def streaming_speech(
    settings: Settings, pipeline: SpeechPipeline, speaker: Speaker, volume: Callable[[], float]
) -> StreamingSpeech:
    """Speech from the first words: ElevenLabs' input-streaming WebSocket, the HTTP pipeline as fallback."""
    from appliance.speech.streaming import StreamingSpeech
    from appliance.tts.elevenlabs import DEFAULT_BASE_URL
    from appliance.tts.elevenlabs_ws import StreamInputConnection

    tts, secrets = settings.tts, settings.secrets
    # ws(s)://host of the HTTP address unless the socket has an address of its own (a local stand-in)
    base_url = secrets.get("elevenlabs", "websocket_base_url") or secrets.elevenlabs_base_url or DEFAULT_BASE_URL

    def connect() -> StreamInputConnection:
        return StreamInputConnection(
            api_key=secrets.elevenlabs_api_key,
            voice_id=tts.voice_id,
            model=tts.model,
            rate=tts.sample_rate,
            base_url=base_url,
            chunk_schedule=list(tts.chunk_schedule),
            speed=tts.speed,
        )

    return StreamingSpeech(
        connect,
        pipeline,
        speaker,
        timeout=tts.timeout,
        open_timeout=min(3.0, tts.timeout),
        volume=volume,
        first_flush_words=tts.first_flush_words,
    )


def timers(
    settings: Settings,
    speaker: Speaker,
    speech: Speech,
    bus: EventBus,
    app: TimerHooks,
    state_dir: Path | None,
    closers: Closers,
) -> tuple[Alerts, TimerService]:
    """The running timers (kept in the state directory, so they survive a restart) and their alarm; ``app``
    gives the volume and hears an alert's end and a timer's end. The caller starts the service once the app
    exists: missed timers ring at once."""
    from appliance.timers.alarm import Alarm
    from appliance.timers.service import TimerService

    alarm = Alarm(
        speaker,
        lambda: speech,
        bus.emit,
        app.alert_stopped,
        ring_seconds=settings.timers.ring_seconds,
        volume=app.get_volume,
    )
    service = TimerService(
        state_dir / "timers.json" if state_dir else None,
        lambda t, missed: app.timer_ended(t.label, missed, t.id),
        bus.emit,
    )
    closers.append(alarm.stop)
    closers.append(service.close)
    return alarm, service


def local_commands(
    settings: Settings, controls: Callable[[], Controls], cached: Callable[[str], bool]
) -> DeferredCommands:
    """The device's own commands, built in the background (hassil and the templates take ~0.4 s to load)."""

    def make() -> Any:
        from appliance.local.commands import LocalCommands
        from appliance.local.matcher import CommandMatcher, load_templates

        enabled = frozenset(settings.local.commands) or None
        matcher = CommandMatcher(load_templates(settings.local.language), enabled=enabled)
        made = LocalCommands(matcher, controls, cached=cached)
        made.warm()
        return made

    local = DeferredCommands(make)
    local.warm()
    return local


def offline_mode(settings: Settings, local: DeferredCommands, cached: Callable[[str], bool], bus: EventBus) -> Any:
    """Offline mode: the probe of the cloud's hosts now; the recogniser and its imports only once needed."""
    from appliance.local.offline.connectivity import Backoff, tcp_probe
    from appliance.local.offline.mode import OfflineMode

    def make() -> Any:
        from appliance.local.matcher import load_templates
        from appliance.local.offline.commands import OfflineCommands
        from appliance.local.offline.phrases import offline_phrases
        from appliance.local.offline.recogniser import PocketsphinxRecogniser

        templates = load_templates(settings.local.language)
        enabled = frozenset(settings.local.commands) or None
        recogniser = PocketsphinxRecogniser(templates, enabled=enabled, verify=settings.local.offline_verify)
        keys = list(offline_phrases(timer_names(templates)))
        return OfflineCommands(recogniser, local, cached, lambda: keys)

    secrets = settings.secrets
    hosts = [secrets.openai_base_url or "https://api.openai.com/v1", secrets.elevenlabs_base_url or ELEVENLABS_URL]
    backoff = Backoff(settings.local.offline_probe_seconds, settings.local.offline_probe_max_seconds)
    return OfflineMode(make, tcp_probe(hosts), bus.emit, backoff=backoff)


def offline_speech(settings: Settings) -> dict[str, str]:
    """The phrases offline mode says (cached with the others): its sentence and the replies' word clips."""
    from appliance.local.matcher import load_templates
    from appliance.local.offline.phrases import offline_phrases

    return offline_phrases(timer_names(load_templates(settings.local.language)))


def timer_names(templates: dict[str, Any]) -> list[str]:
    """The timer names of the command templates (their offline clips say them)."""
    values = templates.get("lists", {}).get("name", {}).get("values", [])
    return [str(v) for v in values if isinstance(v, str)]


ELEVENLABS_URL = "https://api.elevenlabs.io"


def tools(
    settings: Settings, bus: EventBus, closers: Closers, household: Household | None = None
) -> Deferred[ToolRegistry]:
    """The tools offered to the model: built-in, the timers' and the MCP servers' (those start now, in the
    background); the registry itself is built with the assistant."""
    mcp = mcp_tools(settings, bus, closers)

    def make() -> ToolRegistry:
        from appliance.tools import default_registry

        registry = default_registry(camera=settings.camera.enabled)
        if mcp is not None:
            registry.attach(mcp)
        if settings.timers.enabled:
            from appliance.timers.tools import TIMER_TOOLS

            for function in TIMER_TOOLS:
                registry.register(function)
        if household is not None:  # "tell everyone dinner is ready"
            from appliance.household.tools import tell_everyone_tool

            registry.register(tell_everyone_tool(household.announce_all))
        return registry

    return Deferred(make)


def assistant(
    settings: Settings,
    registry: Deferred[ToolRegistry],
    tool_context: Callable[..., ToolContext],
    closers: Closers,
) -> DeferredAssistant:
    """The model, built in the background. Over the WebSocket (the default) nothing of the OpenAI SDK is loaded:
    the socket opens on the wake word, and the SDK (~30 MB, over a second to import on a Pi) loads only if the
    HTTP fallback is needed. Over HTTP, the SDK and its parser for the stream's events are ready before the
    first question."""

    def make() -> Any:
        from appliance.llm.responses import ResponsesAssistant

        made = ResponsesAssistant(settings.assistant, settings.secrets, registry.get(), tool_context)
        if made.transport == "http":
            made.warm()
        return made

    deferred = DeferredAssistant(make)
    deferred.warm()
    closers.append(deferred.close)
    return deferred


def mcp_tools(settings: Settings, bus: EventBus, closers: Closers) -> McpManager | None:
    """The MCP servers' tool set, started in the background (None when none is configured: the SDK is not
    even imported then). Readiness never waits for a server."""
    if not settings.mcp.servers:
        return None
    from appliance.mcp.manager import McpManager

    manager = McpManager(settings.mcp, settings.secrets, bus.emit)
    manager.start()
    closers.append(manager.close)
    return manager
