"""Sample format conversion and streaming resampling (soxr) to and from the pipeline's 16 kHz mono int16."""

from __future__ import annotations

import numpy as np
import soxr

from appliance.ports import FRAME_SAMPLES


def to_mono_float(data: bytes, channels: int, sample_width: int) -> np.ndarray:
    """Interleaved PCM bytes (8-bit unsigned, 16/24/32-bit signed) → mono float32 in -1..1."""
    if sample_width == 1:
        x = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif sample_width == 2:
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif sample_width == 3:
        raw = np.frombuffer(data, dtype=np.uint8)
        raw = raw[: len(raw) - len(raw) % 3].reshape(-1, 3)
        ints = raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8) | (raw[:, 2].astype(np.int32) << 16)
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        x = ints.astype(np.float32) / 8388608.0
    elif sample_width == 4:
        x = np.frombuffer(data, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"unsupported sample width {sample_width}")
    if channels > 1:
        x = x[: len(x) - len(x) % channels].reshape(-1, channels).mean(axis=1)
    return x


def float_to_int16(x: np.ndarray) -> np.ndarray:
    return np.asarray((np.clip(x, -1.0, 1.0) * 32767.0).round(), dtype=np.int16)


def int16_to_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 32768.0


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """One-shot resampling of int16 or float audio (same dtype out)."""
    if in_rate == out_rate:
        return x
    if x.dtype == np.int16:
        return float_to_int16(soxr.resample(int16_to_float(x), in_rate, out_rate))
    return np.asarray(soxr.resample(x.astype(np.float32), in_rate, out_rate), dtype=np.float32)


class StreamResampler:
    """Resamples a stream chunk by chunk with no clicks at chunk boundaries (soxr keeps the filter state)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32")

    def process(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """float32 mono in, float32 mono out."""
        if self._stream is None:
            return x.astype(np.float32, copy=False)
        return np.asarray(self._stream.resample_chunk(x.astype(np.float32, copy=False), last=last), dtype=np.float32)


class FrameChunker:
    """Collects arbitrary-length int16 chunks and hands out fixed-size frames."""

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self.frame_samples = frame_samples
        self._buffer = np.zeros(0, dtype=np.int16)

    def push(self, x: np.ndarray) -> list[np.ndarray]:
        self._buffer = np.concatenate([self._buffer, x.astype(np.int16, copy=False)])
        n = len(self._buffer) // self.frame_samples
        frames = [self._buffer[i * self.frame_samples : (i + 1) * self.frame_samples].copy() for i in range(n)]
        self._buffer = self._buffer[n * self.frame_samples :]
        return frames

    def flush(self) -> np.ndarray | None:
        """The remainder padded with silence to a whole frame, or None."""
        if not len(self._buffer):
            return None
        frame = np.zeros(self.frame_samples, dtype=np.int16)
        frame[: len(self._buffer)] = self._buffer
        self._buffer = np.zeros(0, dtype=np.int16)
        return frame


def apply_volume(pcm: np.ndarray, volume: float) -> np.ndarray:
    """Scale int16 samples (volume 0..1, perceptual-ish: squared)."""
    if volume >= 0.999:
        return pcm
    gain = max(0.0, min(1.0, volume)) ** 2
    return (pcm.astype(np.float32) * gain).round().astype(np.int16)
