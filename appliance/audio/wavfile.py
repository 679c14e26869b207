"""WAV-file microphone and speaker: the simulated audio adapters (headless mode, tests, demos).

They are complete implementations of the ports: the microphone delivers frames at real-time pace (or
faster with ``pace``), the speaker takes as long to "play" as the audio lasts, so cancellation and
latency behave as on a device.
"""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..cancel import CancelToken
from ..ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from .convert import FrameChunker, StreamResampler, float_to_int16, to_mono_float

log = logging.getLogger(__name__)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Any PCM WAV → (mono float32, rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getcomptype() != "NONE":
            raise ValueError(f"{path}: compressed WAV ({w.getcomptype()}) is not supported")
        data = w.readframes(w.getnframes())
        return to_mono_float(data, w.getnchannels(), w.getsampwidth()), w.getframerate()


def write_wav(path: str | Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


class WavMicrophone:
    """Reads a WAV file of any rate and channel count as 80 ms frames of 16 kHz mono int16.

    The file is streamed (an hour of audio costs no memory); ``pace`` 1.0 is real time, 2.0 twice as
    fast, 0 as fast as the consumer reads."""

    def __init__(self, path: str | Path, pace: float = 1.0) -> None:
        self.path = Path(path)
        self.pace = pace
        with wave.open(str(self.path), "rb") as w:  # fail early on a bad file
            if w.getcomptype() != "NONE":
                raise ValueError(f"{path}: compressed WAV ({w.getcomptype()}) is not supported")
            self.duration = w.getnframes() / w.getframerate()
        self._closed = threading.Event()

    def _decoded(self) -> Iterator[np.ndarray]:
        with wave.open(str(self.path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            resampler = StreamResampler(rate, SAMPLE_RATE)
            chunker = FrameChunker(FRAME_SAMPLES)
            block = max(1, rate // 5)
            while True:
                data = w.readframes(block)
                last = len(data) < block * channels * width
                samples = to_mono_float(data, channels, width) if data else np.zeros(0, np.float32)
                yield from chunker.push(float_to_int16(resampler.process(samples, last=last)))
                if last:
                    break
            tail = chunker.flush()
            if tail is not None:
                yield tail

    def frames(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        for index, frame in enumerate(self._decoded()):
            if self.pace > 0:
                due = start + index * FRAME_SECONDS / self.pace
                delay = due - time.monotonic()
                if delay > 0 and self._closed.wait(delay):
                    return
            if self._closed.is_set():
                return
            yield frame

    def close(self) -> None:
        self._closed.set()


class WavSpeaker:
    """Writes everything played to a 16-bit mono WAV file (or nowhere, with path None).

    Playback is paced like a device: ``play`` returns when the audio would have been heard, so a cancel
    mid-sentence cuts it there and the file holds only what was heard."""

    def __init__(self, path: str | Path | None, rate: int = 24_000, pace: float = 1.0,
                 block_ms: int = 40) -> None:
        self.rate = rate
        self.pace = pace
        self.block = max(1, rate * block_ms // 1000)
        self._lock = threading.Lock()
        self._writer: wave.Wave_write | None = None
        if path is not None:
            self._writer = wave.open(str(path), "wb")
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(rate)
        self._resamplers: dict[int, StreamResampler] = {}
        self._busy_until = 0.0  # monotonic time when everything written so far has been "heard"
        self.samples_written = 0
        self.first_sample_at: float | None = None

    def _resampler(self, rate: int) -> StreamResampler:
        if rate not in self._resamplers:
            self._resamplers[rate] = StreamResampler(rate, self.rate)
        return self._resamplers[rate]

    def play(self, pcm: np.ndarray, rate: int, cancel: CancelToken | None = None) -> bool:
        if len(pcm) == 0:
            return not (cancel and cancel.cancelled)
        out = pcm if rate == self.rate else float_to_int16(
            self._resampler(rate).process(pcm.astype(np.float32) / 32768.0))
        for start in range(0, len(out), self.block):
            if cancel is not None and cancel.cancelled:
                return False
            block = out[start:start + self.block]
            now = time.monotonic()
            with self._lock:
                if self._writer is not None:
                    self._writer.writeframes(block.astype("<i2").tobytes())
                self.samples_written += len(block)
                if self.first_sample_at is None:
                    self.first_sample_at = now
                self._busy_until = max(self._busy_until, now) + (len(block) / self.rate / self.pace
                                                                 if self.pace > 0 else 0.0)
            # Like a device with a short buffer: block until the audio before this block has been heard.
            self._wait_until(self._busy_until - len(block) / self.rate / max(self.pace, 1e-9), cancel)
        return not (cancel and cancel.cancelled)

    def _wait_until(self, when: float, cancel: CancelToken | None) -> None:
        delay = when - time.monotonic()
        if delay <= 0 or self.pace <= 0:
            return
        if cancel is not None:
            cancel.wait(delay)
        else:
            time.sleep(delay)

    def _flush_resamplers(self) -> None:
        """Write the samples the resamplers still hold (the end of the last sound)."""
        resamplers, self._resamplers = self._resamplers, {}
        for resampler in resamplers.values():
            tail = float_to_int16(resampler.process(np.zeros(0, dtype=np.float32), last=True))
            if len(tail):
                self.play(tail, self.rate)

    def drain(self) -> None:
        self._flush_resamplers()
        self._wait_until(self._busy_until, None)

    def close(self) -> None:
        self._flush_resamplers()
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
