"""Setting openWakeWord up offline: LiteRT as tflite_runtime, stand-ins for the parts the appliance never uses,
the shipped models by name, and the seeded features a detector starts from."""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import appliance.wake.trained as trained
from appliance.errors import ApplianceError, ErrorKind, MissingResource

log = logging.getLogger(__name__)

FEATURE_MODELS = ("melspectrogram", "embedding_model")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx"}

#: the embedding model's window (mel frames), its step, and the mel frames the melspec model loses at the edges
_EMBEDDING_WINDOW, _EMBEDDING_STEP, _MEL_EDGE = 76, 8, 3
_MEL_HOP = 160  # samples per mel frame


def models_dir() -> Path:
    """Where pyopen-wakeword keeps its model files."""
    spec = importlib.util.find_spec("pyopen_wakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ApplianceError(ErrorKind.WAKE, "the pyopen-wakeword package (which ships the models) is missing")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def skip_verifier_training() -> None:
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


def skip_onnx_vad() -> None:
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
def without_download_helpers() -> Iterator[None]:
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


def alias_litert() -> None:
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
def no_pretrained_fallback(openwakeword: Any, active: bool) -> Iterator[None]:
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
def without_first_noise() -> Iterator[None]:
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


def seeded_features(melspec: Path, embedding: Path, runtime: str, seed: int, windows: int) -> np.ndarray:
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

            with without_first_noise():
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
