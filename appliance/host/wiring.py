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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import ports as p
from appliance.cancel import CancelToken
from appliance.config.secrets import VARIABLES
from appliance.config.settings import Settings
from appliance.core.app import App, Ports
from appliance.core.controls import ControlsView
from appliance.events import EventBus
from appliance.host import builders
from appliance.host.deferred import Deferred as Deferred
from appliance.host.deferred import MissingKey as MissingKey
from appliance.host.startup import warm_up

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    mic: str | None = None  # WAV file instead of the microphone
    speaker: str | None = None  # WAV file instead of the speaker
    camera: str | None = None  # image file or directory instead of the camera
    pace: float = 1.0  # WAV microphone/speaker speed (1 = real time; 0 = as fast as possible)
    mic_start_at: float | None = None  # the WAV microphone starts at this wall-clock time (simulated rooms)
    speaker_rate: int = 24_000
    state_dir: str | None = None  # phrase cache; None = StateDirectory or nothing


class AppHooks:
    """The app, for the ports built before it (they are all built first, then the app with the whole set):
    the speech's volume, the tools' context and controls, the timers' and the button's events."""

    def __init__(self, settings: Settings) -> None:
        self.app: App | None = None
        self._volume = settings.audio.volume

    def _app(self) -> App:
        assert self.app is not None, "the app is made right after its ports"
        return self.app

    def get_volume(self) -> float:
        return self._volume if self.app is None else self.app.get_volume()

    def tool_context(self, cancel: CancelToken, emit: p.Emit) -> p.ToolContext:
        return self._app().tool_context(cancel, emit)

    def controls(self) -> p.Controls:
        return ControlsView(self._app())

    def alert_stopped(self, reason: str) -> None:
        self._app().alert_stopped(reason)

    def timer_ended(self, label: str, missed: bool = False, timer: int = 0) -> None:
        self._app().timer_ended(label, missed, timer)

    def press(self, kind: str) -> None:
        if self.app is not None:  # the button exists a moment before the app: a press then is dropped
            self.app.press(kind)


def build(settings: Settings, options: RunOptions, bus: EventBus, **hooks: Any) -> tuple[App, Ports]:
    """The app and its ports; ``hooks`` are App's on_status/on_tick/on_ready (systemd notifications)."""
    from appliance.host.memory import tune_malloc

    tune_malloc()  # before the engines and their threads
    closers: builders.Closers = []
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
    settings: Settings, options: RunOptions, bus: EventBus, closers: builders.Closers, hooks: dict[str, Any]
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
    late = AppHooks(settings)

    # --- audio
    microphone = mic_backend.microphone(settings, options)
    closers.append(microphone.close)
    speaker = speaker_backend.speaker(settings, options)
    closers.append(speaker.close)

    microphone, speaker, echo_cancelled = builders.front_end(settings, microphone, speaker)

    # --- GPIO
    setup_pin_factory(settings.gpio.pin_factory)
    closers.append(close_pin_factory)
    from appliance.gpio.leds import Leds

    leds = Leds(settings.gpio)
    closers.append(leds.close)
    bus.subscribe(leds.on_event)

    # --- the fleet's metrics: node_exporter's textfile (and /metrics if asked), docs/fleet-metrics.md
    if settings.metrics.enabled or settings.metrics.listen:
        from appliance.metrics.service import start_metrics

        _, close_metrics = start_metrics(settings.metrics, bus)
        closers.append(close_metrics)  # closed after the app stopped: the last write has every turn

    # --- on-device listening
    wake = make_wake(settings)
    barge_in = builders.barge_in(settings, make_wake) if echo_cancelled and settings.frontend.barge_in else None
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
    transcriber: p.Transcriber
    if secrets.missing([settings.stt.provider]):
        transcriber = MissingKey(VARIABLES[(settings.stt.provider, "api_key")])
    else:
        transcriber = builders.transcriber(settings, make_stt, bus)

    from appliance.local.replies import REPLIES  # the local commands' common replies, kept as speech like the phrases
    from appliance.speech.phrases import PhraseCache
    from appliance.speech.pipeline import SpeechPipeline

    offline_on = settings.local.enabled and settings.local.offline
    extra = {**(REPLIES if settings.local.enabled else {}), **(builders.offline_speech(settings) if offline_on else {})}
    phrases = PhraseCache(state_dir / "phrases" if state_dir else None, extra)
    synth = make_synth(settings)
    streaming_speech = settings.tts.provider == "elevenlabs" and settings.tts.transport == "websocket"
    if not streaming_speech:  # over the WebSocket, the HTTP synthesizer is the fallback: its SDK loads if needed
        threading.Thread(target=warm_up, args=("speech synthesis", synth.warm), name="warm-up-tts", daemon=True).start()
    end_of_turn = builders.end_of_turn(settings)  # its model loads in the background from now
    pipeline = SpeechPipeline(synth, speaker, settings.tts, phrases, volume=late.get_volume)
    closers.append(pipeline.close)  # closed before the speaker (closers run in reverse)
    speech: p.Speech = pipeline
    if streaming_speech:
        streaming = builders.streaming_speech(settings, pipeline, speaker, late.get_volume)
        closers.append(streaming.close)
        speech = streaming
    alerts, timers = None, None
    if settings.timers.enabled:
        alerts, timers = builders.timers(settings, speaker, speech, bus, late, state_dir, closers)
    local = builders.local_commands(settings, late.controls, phrases.has) if settings.local.enabled else None
    offline = builders.offline_mode(settings, local, phrases.has, bus) if offline_on and local is not None else None
    if offline is not None:
        closers.append(offline.close)
    from appliance.host import household as households

    household = households.build(settings, lambda: late.app, closers)  # None: this device answers alone
    assistant: p.Assistant
    tools = None
    if secrets.openai_api_key:
        tools = builders.tools(settings, bus, closers, household)
        assistant = builders.assistant(settings, tools, late.tool_context, closers)
    else:
        assistant = MissingKey("OPENAI_API_KEY")

    # --- buttons last: a press may come at once
    if settings.gpio.button_pin is not None:
        from appliance.gpio.button import PressButton

        button = PressButton(settings.gpio.button_pin, settings.gpio.long_press_seconds, late.press)
        closers.append(button.close)
    ports = Ports(
        microphone=microphone,
        speaker=speaker,
        wake=wake,
        vad=vad,
        transcriber=transcriber,
        assistant=assistant,
        speech=speech,
        camera=camera,
        indicators=leds,
        closers=list(reversed(closers)),
        alerts=alerts,
        timers=timers,
        end_of_turn=end_of_turn,
        echo_cancelled=echo_cancelled,
        barge_in=barge_in,
        local=local,
        offline=offline,
        tools=tools,
        household=household,
    )
    app = late.app = App(settings, ports, bus, **hooks)
    if timers is not None:
        timers.start()  # missed timers ring at once: their messages wait in the app's inbox until it runs
    return app, ports
