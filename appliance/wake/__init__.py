"""Wake word and voice-activity engines by name (``wake.engine``, ``vad.engine``).

An engine is a factory ``(settings) -> ports.WakeDetector`` / ``ports.VoiceActivity``, registered here or,
from another package, in the ``appliance.wake`` / ``appliance.vad`` entry-point groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.registry import Registry

if TYPE_CHECKING:
    from appliance.config.settings import Settings
    from appliance.ports import VoiceActivity, WakeDetector

WakeFactory = Callable[["Settings"], "WakeDetector"]
VadFactory = Callable[["Settings"], "VoiceActivity"]
WAKE_ENGINES: Registry[WakeFactory] = Registry("wake word engine", "wake.engine", "appliance.wake")
VAD_ENGINES: Registry[VadFactory] = Registry("voice-activity engine", "vad.engine", "appliance.vad")


def _openwakeword(settings: Settings) -> WakeDetector:
    from appliance.wake.oww import OpenWakeWordDetector

    return OpenWakeWordDetector(settings.wake)


def _silero(settings: Settings) -> VoiceActivity:
    from appliance.listening.vad import SileroVad

    return SileroVad()


WAKE_ENGINES.register("openwakeword", _openwakeword)
VAD_ENGINES.register("silero", _silero)
