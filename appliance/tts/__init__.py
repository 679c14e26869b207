"""Text to speech: engines chosen by name (``tts.provider``), HTTP per sentence and streaming.

An engine is a factory ``(settings) -> ports.Synthesizer``, registered here or, from another package, in the
``appliance.tts`` entry-point group. Factories import their SDKs or models when called, not when registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.registry import Registry

if TYPE_CHECKING:
    from appliance.config.settings import Settings
    from appliance.ports import Synthesizer

SynthesizerFactory = Callable[["Settings"], "Synthesizer"]
SYNTHESIZERS: Registry[SynthesizerFactory] = Registry("text-to-speech engine", "tts.provider", "appliance.tts")


def _elevenlabs(settings: Settings) -> Synthesizer:
    from appliance.tts.elevenlabs import ElevenLabsSynth

    return ElevenLabsSynth(settings.tts, settings.secrets)


def _piper(settings: Settings) -> Synthesizer:
    from appliance.tts.piper import PiperSynth

    return PiperSynth(settings.tts)


SYNTHESIZERS.register("elevenlabs", _elevenlabs)
SYNTHESIZERS.register("piper", _piper)
