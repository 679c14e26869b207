"""Wake models trained by `appliance wake train` (appliance/wake/train/): a small head on openWakeWord's
melspectrogram + embedding features, stored as one ``NAME.npz`` (the weights) with ``NAME.json`` beside it
(phrase, threshold, recipe, data, seed, licence, training figures).

The JSON is written last and holds the SHA-256 of the .npz, so a pair that was half written, or a .npz
without its metadata, is refused with a clear message instead of being loaded. Inference is numpy only:
two small matrix products per 80 ms frame on the 16 embeddings the feature models already computed, so a
trained model costs what a pretrained one does (the feature models are shared and dominate).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from appliance.errors import ApplianceError, ErrorKind, MissingResource

FORMAT = "appliance-wake-head/1"
SUFFIX = ".npz"
EMBEDDING_DIM = 96


def shipped_dir() -> Path:
    """Where the trained models the appliance ships lie (appliance/wake/models)."""
    return Path(__file__).resolve().parent / "models"


def shipped_trained() -> list[str]:
    """Names of the trained models shipped with the appliance."""
    folder = shipped_dir()
    return sorted(p.stem for p in folder.glob(f"*{SUFFIX}") if p.with_suffix(".json").is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TrainedModel:
    """A trained head: standardize the flattened embeddings, then ReLU layers and a sigmoid."""

    name: str
    path: Path
    meta: dict[str, Any]
    mean: np.ndarray
    scale: np.ndarray
    weights: list[tuple[np.ndarray, np.ndarray]]

    @property
    def windows(self) -> int:
        """How many embeddings (80 ms apart) the head reads."""
        return int(self.mean.shape[0] // EMBEDDING_DIM)

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @property
    def phrase(self) -> str:
        return str(self.meta["phrase"])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Scores (0..1) of a batch of feature windows, shape (n, windows, 96) or (n, windows * 96)."""
        x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
        h = (x - self.mean) * self.scale
        for i, (w, b) in enumerate(self.weights):
            h = h @ w + b
            if i < len(self.weights) - 1:
                np.maximum(h, 0.0, out=h)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -30.0, 30.0)))
        return out

    def __post_init__(self) -> None:
        # per frame, the standardization folded into the first layer: one product less
        w0, b0 = self.weights[0]
        self._folded = [(w0 * self.scale[:, None], b0 - (self.mean * self.scale) @ w0), *self.weights[1:]]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """openwakeword's prediction-function shape: one window (1, windows, 96) -> [[[score]]]."""
        h = np.asarray(features, dtype=np.float32).reshape(1, -1)
        last = len(self._folded) - 1
        for i, (w, b) in enumerate(self._folded):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        logit = min(30.0, max(-30.0, float(h[0, 0])))
        return np.array([[[1.0 / (1.0 + math.exp(-logit))]]], dtype=np.float32)


def load(path: Path, name: str | None = None) -> TrainedModel:
    """Load ``path`` (a .npz with its .json beside it). Raises MissingResource / ApplianceError(CONFIG) with
    what to do when either file is missing, damaged, half written or of another format."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    retrain = "train it again (appliance wake train ...), or set [wake] models to a built-in name"
    if not path.is_file():
        raise MissingResource(ErrorKind.CONFIG, f"wake.models: no trained model file at {path}", retrain)
    if not meta_path.is_file():
        raise MissingResource(
            ErrorKind.CONFIG,
            f"wake.models: {path.name} has no metadata ({meta_path.name}): the training did not finish",
            retrain,
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MissingResource(ErrorKind.CONFIG, f"wake.models: {meta_path} is damaged ({exc})", retrain) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ApplianceError(ErrorKind.CONFIG, f"wake.models: {meta_path} is not a wake model of format {FORMAT}")
    if meta.get("sha256") != sha256(path):
        raise MissingResource(
            ErrorKind.CONFIG,
            f"wake.models: {path.name} does not match its metadata (half written, or replaced since)",
            retrain,
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            layers = int(data["layers"])
            weights = [(data[f"w{i}"].astype(np.float32), data[f"b{i}"].astype(np.float32)) for i in range(layers)]
            mean = data["mean"].astype(np.float32)
            scale = data["scale"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise MissingResource(ErrorKind.CONFIG, f"wake.models: {path} is damaged ({exc})", retrain) from exc
    if mean.shape[0] % EMBEDDING_DIM or weights[0][0].shape[0] != mean.shape[0] or weights[-1][0].shape[1] != 1:
        raise ApplianceError(ErrorKind.CONFIG, f"wake.models: {path} has layers of the wrong shape")
    return TrainedModel(name or path.stem, path, meta, mean, scale, weights)


def save(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``path`` (.npz) and its .json atomically, the JSON last (with the .npz's SHA-256): a reader
    never sees a pair that does not belong together."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path = path.with_suffix(".json")
    meta_path.unlink(missing_ok=True)  # the old metadata no longer describes what is about to be written
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **cast(dict[str, Any], arrays))
        os.chmod(tmp, 0o644)  # the appliance's service user reads what its owner trained
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta = {**meta, "format": FORMAT, "sha256": sha256(path)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=2, sort_keys=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, meta_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
