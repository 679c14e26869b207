"""openWakeWord's own feature code (openwakeword.utils.AudioFeatures) with the Apache-2.0 melspectrogram and
embedding models that pyopen-wakeword ships, on LiteRT as the wake engine runs them: the head is trained on
exactly the features it will see."""

from __future__ import annotations

from typing import Any

import numpy as np

import appliance.wake.oww_setup as oww_setup

#: audio per training example: 2.5 s gives 22 embedding windows, of which the head reads the last 16
CLIP_SAMPLES = 40000
WINDOWS = 16


def extractor() -> Any:
    """An AudioFeatures on the shipped tflite feature models (nothing downloaded)."""
    oww_setup.skip_verifier_training()
    oww_setup.skip_onnx_vad()
    oww_setup.alias_litert()
    with oww_setup.without_download_helpers():
        from openwakeword.utils import AudioFeatures
    melspec, embedding = oww_setup.feature_models("tflite", [])
    with oww_setup.without_first_noise():
        return AudioFeatures(
            melspec_model_path=str(melspec), embedding_model_path=str(embedding), inference_framework="tflite"
        )


def embed(features: Any, clips: np.ndarray) -> np.ndarray:
    """Embeddings of int16 clips (n, CLIP_SAMPLES) -> (n, windows, 96) float32, the same as openwakeword's
    ``_get_embeddings`` of each clip: the clips' melspectrograms come from one pass over them end to end (the
    melspectrogram model is a fixed short-time transform, so a clip's frames do not depend on its neighbours)
    and their windows go through the embedding model in one batch."""
    if len(clips) > 16:  # the melspectrogram model's tensors grow with its input: 16 clips at a time
        return np.concatenate([embed(features, clips[i : i + 16]) for i in range(0, len(clips), 16)])
    n, samples = clips.shape
    frames_per_clip = samples // 160 - 3
    spec = features._get_melspectrogram(np.ascontiguousarray(clips.reshape(1, -1)))
    per_clip = samples // 160
    starts = list(range(0, frames_per_clip - 76 + 1, 8))
    batch = np.empty((n * len(starts), 76, 32, 1), np.float32)
    for i in range(n):
        base = i * per_clip
        for j, s in enumerate(starts):
            batch[i * len(starts) + j, :, :, 0] = spec[base + s : base + s + 76]
    out = np.asarray(features.embedding_model_predict(batch), dtype=np.float32)
    return out.reshape(n, len(starts), -1)
