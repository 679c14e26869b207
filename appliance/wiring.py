"""Builds the appliance from settings: real adapters by default, simulated ones where the CLI asks.

Every adapter module is imported here lazily, so a missing optional piece (picamera2 off a Pi) only
affects its own port.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .app import App, Ports
from .cancel import CancelToken
from .errors import ApplianceError, ErrorKind
from .events import EventBus
from .settings import Settings

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
        return ApplianceError(ErrorKind.AUTH, f"{self.variable} is not set: add it to /etc/appliance/env",
                              stage="cloud")

    def transcribe(self, pcm: Any, cancel: CancelToken) -> str:
        raise self._fail()

    def respond(self, text: str, cancel: CancelToken, emit: Any) -> Any:
        raise self._fail()

    def reset(self) -> None:
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
        with self._lock:
            if self._target is None:
                self._target = self._factory()
            return self._target

    def warm(self) -> None:
        threading.Thread(target=self._warm, name="warm-up", daemon=True).start()

    def _warm(self) -> None:
        try:
            self._get()
        except Exception:  # reported again, as a typed error, when the turn needs it
            log.exception("preparing a cloud client failed")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def build(settings: Settings, options: RunOptions, bus: EventBus, **hooks: Any) -> tuple[App, Ports]:
    """The app and its ports; ``hooks`` are App's on_status/on_tick/on_ready (systemd notifications)."""
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


def _build(settings: Settings, options: RunOptions, bus: EventBus, closers: list[Any],
           hooks: dict[str, Any]) -> tuple[App, Ports]:
    from .gpio.factory import close_pin_factory, setup_pin_factory

    # --- audio
    if options.mic:
        from .audio.wavfile import WavMicrophone

        microphone: Any = WavMicrophone(options.mic, pace=options.pace)
    else:
        from .audio.pyaudio_io import PyAudioMicrophone

        microphone = PyAudioMicrophone(settings.audio.input_device)
    closers.append(microphone.close)
    if options.speaker or options.mic:
        from .audio.wavfile import WavSpeaker

        speaker: Any = WavSpeaker(options.speaker, rate=options.speaker_rate, pace=options.pace,
                                  block_ms=settings.audio.playback_block_ms)
    else:
        from .audio.pyaudio_io import PyAudioSpeaker

        speaker = PyAudioSpeaker(settings.audio.output_device, block_ms=settings.audio.playback_block_ms)
    closers.append(speaker.close)

    # --- GPIO
    setup_pin_factory(settings.gpio.pin_factory)
    closers.append(close_pin_factory)
    from .gpio.leds import Leds

    leds = Leds(settings.gpio)
    closers.append(leds.close)
    bus.subscribe(leds.on_event)

    # --- on-device listening
    from .wake.oww import OpenWakeWordDetector
    from .wake.vad import SileroVad

    wake = OpenWakeWordDetector(settings.wake)
    vad = SileroVad()

    # --- camera
    from .camera import make_camera

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
    if secrets.openai_api_key:
        def make_transcriber() -> Any:
            from .speech.stt import OpenAITranscriber

            transcriber = OpenAITranscriber(settings.stt, secrets)
            _ = transcriber.client.audio.transcriptions  # the SDK loads its resources on first access
            return transcriber

        transcriber = Deferred(make_transcriber)
        transcriber.warm()
    else:
        transcriber = MissingKey("OPENAI_API_KEY")

    from .speech.phrases import PhraseCache
    from .speech.pipeline import SpeechPipeline
    from .speech.tts import ElevenLabsSynth

    phrases = PhraseCache(state_dir / "phrases" if state_dir else None)
    synth = ElevenLabsSynth(settings.tts, secrets)
    threading.Thread(target=synth.warm, name="warm-up-tts", daemon=True).start()
    ports = Ports(microphone=microphone, speaker=speaker, wake=wake, vad=vad, transcriber=transcriber,
                  assistant=None, speech=None, camera=camera, indicators=leds, closers=[])
    app = App(settings, ports, bus, **hooks)
    ports.speech = SpeechPipeline(synth, speaker, settings.tts, phrases, volume=app.get_volume)
    if secrets.openai_api_key:
        def make_assistant() -> Any:
            from .llm.responses import ResponsesAssistant
            from .tools import default_registry

            made = ResponsesAssistant(settings.assistant, secrets, default_registry(camera=settings.camera.enabled),
                                      app.tool_context)
            import openai.types.responses  # noqa: F401  (parsing the first stream would load them)

            _ = made._client.responses
            return made

        assistant = Deferred(make_assistant)
        assistant.warm()
    else:
        assistant = MissingKey("OPENAI_API_KEY")
    ports.assistant = assistant

    # --- buttons last: a press may come at once
    if settings.gpio.button_pin is not None:
        from .gpio.button import PressButton

        button = PressButton(settings.gpio.button_pin, settings.gpio.long_press_seconds, app.press)
        closers.append(button.close)
    ports.closers = list(reversed(closers))
    return app, ports
