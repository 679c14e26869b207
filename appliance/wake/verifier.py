"""The wake-word verifier enrolled on the device (`appliance enroll`): what is stored, and how it is loaded.

openWakeWord's custom verifier is a logistic regression over the wake model's input features (16 frames × 96
embedding values), consulted whenever the model's score reaches ``custom_verifier_threshold``; its probability
then replaces the score. openWakeWord stores it as a pickled scikit-learn pipeline, which costs scikit-learn's
import (2–20 s here, several times that on a Pi) at every start and runs whatever code the pickle names.
The appliance stores the same linear model as plain arrays in an ``.npz`` (no pickle allowed on load) and
evaluates it with numpy: the same probability, nothing to import, and a damaged or foreign file is only
ignored. Training lives in :mod:`appliance.wake.enroll` and is the only place scikit-learn is imported.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from appliance.errors import ApplianceError, ErrorKind

log = logging.getLogger(__name__)

FILE_NAME = "wake-verifier.npz"
FORMAT = 1
#: the unit file's StateDirectory=appliance, for commands run from a shell (no $STATE_DIRECTORY there)
DEFAULT_STATE_DIR = Path("/var/lib/appliance")


class VerifierError(ApplianceError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.WAKE, message)


def state_dir(explicit: str | None, env: Mapping[str, str]) -> Path:
    """``--state-dir``, else systemd's $STATE_DIRECTORY (first entry), else /var/lib/appliance."""
    chosen = explicit or env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(chosen) if chosen else DEFAULT_STATE_DIR


def verifier_path(directory: Path) -> Path:
    return directory / FILE_NAME


@dataclass(frozen=True)
class LinearVerifier:
    """One wake model's verifier: standardize the flattened features, then a logistic regression. Has the
    ``predict_proba`` openwakeword's Model calls, so it goes straight into ``Model.custom_verifier_models``."""

    model: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    takes: int = 0
    negatives: str = ""

    def __post_init__(self) -> None:
        n = self.coef.shape[0]
        if self.coef.ndim != 1 or self.mean.shape != (n,) or self.scale.shape != (n,) or n == 0:
            raise VerifierError(f"verifier for {self.model}: inconsistent shapes")
        if not (np.all(np.isfinite(self.coef)) and np.all(self.scale > 0) and np.isfinite(self.intercept)):
            raise VerifierError(f"verifier for {self.model}: non-finite weights")

    def probability(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        if x.shape[1] != self.coef.shape[0]:
            raise ValueError(f"verifier for {self.model} expects {self.coef.shape[0]} features, got {x.shape[1]}")
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
        return p

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        p = self.probability(features)
        return np.stack([1.0 - p, p], axis=1)


def save(path: Path, verifiers: list[LinearVerifier]) -> None:
    """Write atomically (temporary file in the same folder, then rename): a crash leaves the old file or
    the new one, never half of one."""
    arrays: dict[str, Any] = {"format": np.array(FORMAT), "models": np.array([v.model for v in verifiers])}
    for i, v in enumerate(verifiers):
        arrays[f"mean_{i}"] = v.mean
        arrays[f"scale_{i}"] = v.scale
        arrays[f"coef_{i}"] = v.coef
        arrays[f"intercept_{i}"] = np.array(v.intercept)
        arrays[f"takes_{i}"] = np.array(v.takes)
        arrays[f"negatives_{i}"] = np.array(v.negatives)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".wake-verifier-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> list[LinearVerifier]:
    """The stored verifiers; VerifierError (with why) if the file is not one this version wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT:
                raise VerifierError(f"{path}: format {int(data['format'])}, this version reads {FORMAT}")
            out = []
            for i, model in enumerate(data["models"].tolist()):
                out.append(
                    LinearVerifier(
                        model=str(model),
                        mean=data[f"mean_{i}"].astype(np.float64),
                        scale=data[f"scale_{i}"].astype(np.float64),
                        coef=data[f"coef_{i}"].astype(np.float64),
                        intercept=float(data[f"intercept_{i}"]),
                        takes=int(data[f"takes_{i}"]),
                        negatives=str(data[f"negatives_{i}"]),
                    )
                )
    except VerifierError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise VerifierError(f"{path}: not a readable wake verifier ({type(exc).__name__}: {exc})") from exc
    if not out:
        raise VerifierError(f"{path}: holds no verifier")
    return out


@runtime_checkable
class Verifiable(Protocol):
    """A wake detector that takes enrolled verifiers (appliance/wake/oww.py); other engines may not."""

    def use_verifiers(self, verifiers: list[LinearVerifier], *, announce: bool = True) -> list[str]:
        """Verify these models' hits from now on; the models now verified."""
        ...


@runtime_checkable
class Wrapping(Protocol):
    """A detector around another one (the gate)."""

    @property
    def inner(self) -> object: ...


def attach_stored(detector: object, directory: Path | None, also: Sequence[object] = ()) -> list[str]:
    """Give ``detector`` (anything with ``use_verifiers``, possibly wrapped by the gate) the verifiers stored
    in ``directory``. Returns the models now verified. A missing file means none was enrolled; a damaged one
    is logged and ignored: the plain model still hears the wake word. ``also``: more detectors of the same
    models (the barge-in listener's on the raw microphone), which take the same verifiers, read once, without
    the log saying so again."""
    targets = [_verifiable(d) for d in (detector, *also)]
    if directory is None or targets[0] is None:
        return []
    path = verifier_path(directory)
    if not path.exists():
        return []
    try:
        verifiers = load(path)
    except VerifierError as exc:
        log.error("wake verifier ignored: %s (enroll again: appliance enroll)", exc)
        return []
    used: list[str] = targets[0].use_verifiers(verifiers)
    for target in targets[1:]:
        if target is not None:
            target.use_verifiers(verifiers, announce=False)
    return used


def _verifiable(detector: object) -> Verifiable | None:
    """The detector itself or the one it wraps (the gate) that takes verifiers, or None."""
    while not isinstance(detector, Verifiable) and isinstance(detector, Wrapping):
        detector = detector.inner
    return detector if isinstance(detector, Verifiable) else None
