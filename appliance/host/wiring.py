"""Builds the appliance from settings: each engine by the name the settings give it, WAV files where the
CLI asks.

Engines come from the registries (:mod:`appliance.registry`: ``audio.backend``, ``wake.engine``,
``vad.engine``, ``stt.provider``, ``tts.provider``), so nothing here names a vendor, and every adapter
module is imported lazily by its factory: a missing optional piece (picamera2 off a Pi) only affects its
own port.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from appliance.cancel import CancelToken
from appliance.config.secrets import VARIABLES
from appliance.config.settings import Settings
from appliance.core.app import App, Ports
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import EventBus
from appliance.host.startup import SDK_IMPORTS, warm_up
from appliance.timings import TurnTimings

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    mic: str | None = None  # WAV file instead of the microphone
    speaker: str | None = None  # WAV file instead of the speaker
    camera: str | None = None  # image file or directory instead of the camera
    pace: float = 1.0  # WAV microphone/speaker speed (1 = real time; 0 = as fast as possible)
    speaker_rate: int = 24_000
    state_dir: str | None = None  # phrase cache; None = StateDirectory or nothing


class MissingKey:
    """Stands in for a cloud stage whose API key is missing: every use is a clear, typed error."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def _fail(self) -> ApplianceError:
        return ApplianceError(
            ErrorKind.AUTH, f"{self.variable} is not set: add it to /etc/appliance/env", stage="cloud"
        )

    def transcribe(
        self, pcm: Any, cancel: CancelToken, *, deadline: Deadline | None = None, timings: TurnTimings | None = None
    ) -> str:
        raise self._fail()

    def respond(self, text: str, cancel: CancelToken, emit: Any, **_turn: Any) -> Any:
        raise self._fail()

    def reset(self) -> None:
        pass

    def remember(self, question: str, answer: str) -> None:
        pass

    def pending_confirmation(self) -> str | None:
        return None

    def settle_confirmation(self, yes: bool) -> None:
        pass

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass


class Deferred:
    """Builds an object on first use, or earlier in a background thread (``warm``).

    The cloud SDKs take over a second to import on a Pi; the appliance is ready to hear the wake word
    without them, and they are in place long before the first question has been spoken."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._target: Any = None

    def _get(self) -> Any:
        target = self._target
        if target is not None:
            return target
        with SDK_IMPORTS, self._lock:  # one build or warm-up at a time, always in this order (no lock cycle)
            if self._target is None:
                self._target = self._factory()
            return self._target

    @property
    def built(self) -> bool:
        return self._target is not None

    def warm(self) -> threading.Thread:
        """Build it in the background; returns the thread (tests join it). A failure is logged (one line
        for a network that is not up yet) and reported again, as a typed error, when the turn needs it."""
        thread = threading.Thread(target=warm_up, args=("a cloud client", self._get), name="warm-up", daemon=True)
        thread.start()
        return thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def _local_commands(settings: Settings, app: App, cached: Callable[[str], bool]) -> Any:
    """The device's own commands, built in the background (hassil and the templates take ~0.4 s to load)."""

    def make() -> Any:
        from appliance.core.controls import ControlsView
        from appliance.local.commands import LocalCommands
        from appliance.local.matcher import CommandMatcher, load_templates

        enabled = frozenset(settings.local.commands) or None
        matcher = CommandMatcher(load_templates(settings.local.language), enabled=enabled)
        made = LocalCommands(matcher, lambda: ControlsView(app), cached=cached)
        made.warm()
        return made

    local = Deferred(make)
    local.warm()
    return local


def build(settings: Settings, options: RunOptions, bus: EventBus, **hooks: Any) -> tuple[App, Ports]:
    """The app and its ports; ``hooks`` are App's on_status/on_tick/on_ready (systemd notifications)."""
    from appliance.host.memory import tune_malloc

    tune_malloc()  # before the engines and their threads
    closers: list[Any] = []
    try:
        return _build(settings, options, bus, closers, hooks)
    except BaseException:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                log.debug("cleanup after a failed start failed", exc_info=True)
        raise


def _build(
    settings: Settings, options: RunOptions, bus: EventBus, closers: list[Any], hooks: dict[str, Any]
) -> tuple[App, Ports]:
    from appliance.audio import AUDIO_BACKENDS
    from appliance.gpio.factory import close_pin_factory, setup_pin_factory
    from appliance.stt import TRANSCRIBERS
    from appliance.tts import SYNTHESIZERS
    from appliance.wake import VAD_ENGINES, WAKE_ENGINES

    # every engine by name first: an unknown name is a settings error before any device is opened
    # (--mic / --speaker are WAV files whatever the backend; a --mic run plays no sound either)
    mic_backend = AUDIO_BACKENDS.get("wavfile" if options.mic else settings.audio.backend)()
    speaker_backend = AUDIO_BACKENDS.get("wavfile" if options.speaker or options.mic else settings.audio.backend)()
    make_wake = WAKE_ENGINES.get(settings.wake.engine)
    make_vad = VAD_ENGINES.get(settings.vad.engine)
    make_stt = TRANSCRIBERS.get(settings.stt.provider)
    make_synth = SYNTHESIZERS.get(settings.tts.provider)

    # --- audio
    microphone = mic_backend.microphone(settings, options)
    closers.append(microphone.close)
    speaker = speaker_backend.speaker(settings, options)
    closers.append(speaker.close)

    microphone, speaker, echo_cancelled = _front_end(settings, microphone, speaker)

    # --- GPIO
    setup_pin_factory(settings.gpio.pin_factory)
    closers.append(close_pin_factory)
    from appliance.gpio.leds import Leds

    leds = Leds(settings.gpio)
    closers.append(leds.close)
    bus.subscribe(leds.on_event)

    # --- on-device listening
    wake = make_wake(settings)
    barge_in = None
    if echo_cancelled and settings.frontend.barge_in:
        barge_in = _barge_in(settings, make_wake)
    if options.state_dir:  # the verifier `appliance enroll` stored, if any (a damaged one is logged and ignored)
        from appliance.wake.verifier import attach_stored

        # the barge-in's detector on the raw microphone too (the verifier was trained on raw audio)
        attach_stored(wake, Path(options.state_dir), also=[barge_in.microphone] if barge_in else [])
    if settings.frontend.wake_gate:
        from appliance.wake.gate import GatedWakeDetector

        wake = GatedWakeDetector(wake)  # the model sleeps in a quiet room
    vad = make_vad(settings)

    # --- camera
    from appliance.camera import make_camera

    camera = make_camera(settings.camera, options.camera) if settings.camera.enabled else None
    if camera is not None:
        closers.append(camera.close)

    # --- cloud
    secrets = settings.secrets
    for line in secrets.missing():
        log.error("%s", line)
    state_dir = Path(options.state_dir) if options.state_dir else None
    transcriber: Any
    assistant: Any
    if secrets.missing([settings.stt.provider]):
        transcriber = MissingKey(VARIABLES[(settings.stt.provider, "api_key")])
    else:

        def make_transcriber() -> Any:
            made = make_stt(settings)
            warm = getattr(made, "warm", None)
            if warm is not None:
                warm()  # the SDK loads its resources on first access
            return made

        transcriber = Deferred(make_transcriber)
        transcriber.warm()
        if settings.stt.mode == "streaming" and settings.stt.provider == "openai":
            transcriber = _streaming(settings, transcriber, bus)

    from appliance.local.replies import REPLIES  # the local commands' common replies, kept as speech like the phrases
    from appliance.speech.phrases import PhraseCache
    from appliance.speech.pipeline import SpeechPipeline

    phrases = PhraseCache(state_dir / "phrases" if state_dir else None, REPLIES if settings.local.enabled else None)
    synth = make_synth(settings)
    streaming_speech = settings.tts.provider == "elevenlabs" and settings.tts.transport == "websocket"
    if not streaming_speech:  # over the WebSocket, the HTTP synthesizer is the fallback: its SDK loads if needed
        threading.Thread(target=warm_up, args=("speech synthesis", synth.warm), name="warm-up-tts", daemon=True).start()
    ports = Ports(
        microphone=microphone,
        speaker=speaker,
        wake=wake,
        vad=vad,
        transcriber=transcriber,
        assistant=None,
        speech=None,
        camera=camera,
        indicators=leds,
        closers=[],
        end_of_turn=_end_of_turn(settings),
        echo_cancelled=echo_cancelled,
        barge_in=barge_in,
    )
    app = App(settings, ports, bus, **hooks)
    pipeline = SpeechPipeline(synth, speaker, settings.tts, phrases, volume=app.get_volume)
    closers.append(pipeline.close)  # closed before the speaker (closers run in reverse)
    speech: Any = pipeline
    if streaming_speech:
        speech = _streaming_speech(settings, pipeline, speaker, app)
        closers.append(speech.close)
    ports.speech = speech
    if settings.timers.enabled:
        _timers(settings, ports, app, bus, speaker, state_dir, closers)
    if settings.local.enabled:
        ports.local = _local_commands(settings, app, phrases.has)
    if secrets.openai_api_key:
        mcp_tools = _mcp(settings, bus, closers)

        def make_assistant() -> Any:
            from appliance.llm.responses import ResponsesAssistant
            from appliance.tools import default_registry

            registry = default_registry(camera=settings.camera.enabled)
            if mcp_tools is not None:
                registry.attach(mcp_tools)
            ports.tools = registry
            if settings.timers.enabled:
                from appliance.timers.tools import TIMER_TOOLS

                for function in TIMER_TOOLS:
                    registry.register(function)
            made = ResponsesAssistant(settings.assistant, secrets, registry, app.tool_context)
            import openai.types.responses  # noqa: F401  (parsing the first stream would load them)

            _ = made._client.responses
            _warm_event_types()
            return made

        assistant = Deferred(make_assistant)
        assistant.warm()
        closers.append(lambda: assistant.close() if assistant.built else None)
    else:
        assistant = MissingKey("OPENAI_API_KEY")
    ports.assistant = assistant

    # --- buttons last: a press may come at once
    if settings.gpio.button_pin is not None:
        from appliance.gpio.button import PressButton

        button = PressButton(settings.gpio.button_pin, settings.gpio.long_press_seconds, app.press)
        closers.append(button.close)
    ports.closers = list(reversed(closers))
    return app, ports


def _mcp(settings: Settings, bus: EventBus, closers: list[Any]) -> Any:
    """The MCP servers' tool set, started in the background (None when none is configured: the SDK is not
    even imported then). Readiness never waits for a server."""
    if not settings.mcp.servers:
        return None
    from appliance.mcp.manager import McpManager

    manager = McpManager(settings.mcp, settings.secrets, bus.emit)
    manager.start()
    closers.append(manager.close)
    return manager


def _warm_event_types() -> list[Any]:
    """The SDK builds its parser for a stream's event union on the first event it parses, and that took ~220 ms
    here (scripts/bench_latency.py): paid on the first answer after a start, between the model's first word
    and the speech. Parse one event of each transport's union now, while the appliance waits for a question."""
    from openai._models import construct_type_unchecked
    from openai.types.responses.response_stream_event import ResponseStreamEvent
    from openai.types.responses.responses_server_event import ResponsesServerEvent

    event = {
        "type": "response.output_text.delta",
        "item_id": "msg_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "",
        "logprobs": [],
        "sequence_number": 0,
    }
    return [
        construct_type_unchecked(value=dict(event), type_=cast(Any, union))
        for union in (ResponseStreamEvent, ResponsesServerEvent)
    ]


def _timers(
    settings: Settings, ports: Ports, app: App, bus: EventBus, speaker: Any, state_dir: Path | None, closers: list[Any]
) -> None:
    """The running timers (kept in the state directory, so they survive a restart) and their alarm."""
    from appliance.timers.alarm import Alarm
    from appliance.timers.service import TimerService

    alarm = Alarm(
        speaker,
        lambda: ports.speech,
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
    ports.alerts, ports.timers = alarm, service
    service.start()  # missed timers ring at once: their messages wait in the app's inbox until it runs
    closers.append(alarm.stop)
    closers.append(service.close)


def _end_of_turn(settings: Settings) -> Any:
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


def _streaming(settings: Settings, batch: Any, bus: EventBus) -> Any:
    """Transcription while the user speaks (OpenAI's realtime session), uploading the recording on failure."""
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
    ws_url = settings.secrets.get("openai", "websocket_base_url")

    def client() -> Any:
        made = batch.client
        return made.with_options(websocket_base_url=ws_url) if ws_url else made

    streaming = StreamingTranscriber(client, batch, options, bus.emit)
    threading.Thread(
        target=warm_up, args=("realtime transcription", streaming.warm), name="warm-up-realtime", daemon=True
    ).start()
    return streaming


def _streaming_speech(settings: Settings, pipeline: Any, speaker: Any, app: App) -> Any:
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
        volume=app.get_volume,
        first_flush_words=tts.first_flush_words,
    )


def _barge_in(settings: Settings, make_wake: Any) -> Any:
    """Two more detectors, fed only while the appliance makes sound: on the raw microphone (the enrolled
    verifier is attached to it with the main detector's) and on the reference, whose scores veto its own voice."""
    from appliance.ports import WakeDetectorWithScores
    from appliance.wake.barge_in import BargeInDetector

    reference = make_wake(settings)
    if not isinstance(reference, WakeDetectorWithScores):
        log.warning("frontend.barge_in is off: the %r wake engine reports no scores", settings.wake.engine)
        return None
    return BargeInDetector(make_wake(settings), reference)


def _front_end(settings: Settings, microphone: Any, speaker: Any) -> tuple[Any, Any, bool]:
    """The audio front end between the microphone and everything that listens, fed what the speaker plays
    as the echo reference. Returns the microphone and speaker to use and whether echoes are cancelled."""
    if not settings.frontend.enabled:
        return microphone, speaker, False
    from appliance.frontend.base import make_frontend
    from appliance.frontend.microphone import FrontEndMicrophone
    from appliance.frontend.reference import ReferenceBuffer, ReferenceSpeaker

    buffer = ReferenceBuffer()
    frontend = make_frontend(settings.frontend, buffer)
    cancels = settings.frontend.echo_cancellation and type(frontend).__name__ != "PassThroughFrontEnd"
    return FrontEndMicrophone(microphone, frontend), ReferenceSpeaker(speaker, buffer), cancels
