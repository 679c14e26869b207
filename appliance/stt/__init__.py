"""Speech to text: providers chosen by name (``stt.provider``), batch upload and streaming.

A provider is a factory ``(settings) -> ports.Transcriber``, registered here or, from another package, in the
``appliance.stt`` entry-point group. Factories import their SDKs when called, not when registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.registry import Registry

if TYPE_CHECKING:
    from appliance.config.settings import Settings
    from appliance.ports import Transcriber

TranscriberFactory = Callable[["Settings"], "Transcriber"]
TRANSCRIBERS: Registry[TranscriberFactory] = Registry("speech-to-text provider", "stt.provider", "appliance.stt")


def _openai(settings: Settings) -> Transcriber:
    from appliance.debug_folder import DebugFolder
    from appliance.stt.openai import OpenAITranscriber

    d = settings.debug
    debug = DebugFolder(d.dir, d.keep_files, d.keep_mb) if d.keep_audio else None
    return OpenAITranscriber(settings.stt, settings.secrets, debug=debug)


TRANSCRIBERS.register("openai", _openai)
