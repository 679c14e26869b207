"""WAV-file microphone and speaker: the simulated audio adapters (headless mode, tests, demos).

They are complete implementations of the ports: the microphone delivers frames at real-time pace (or
faster with ``pace``), the speaker takes as long to "play" as the audio lasts, so cancellation and
latency behave as on a device.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import wave
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]  # no stubs; libsndfile decodes

from appliance.audio.convert import FrameChunker, StreamResampler, float_to_int16
from appliance.cancel import CancelToken
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE

log = logging.getLogger(__name__)


class AudioFileError(ValueError):
    """A file that cannot be decoded as audio; the message is one line naming the file and the problem."""


def _open(path: str | Path) -> sf.SoundFile:
    """libsndfile reads every WAV flavour (8/16/24/32-bit integer, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE);
    the stdlib ``wave`` module reads only plain integer PCM."""
    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        reason = exc.error_string.strip().rstrip(".") or "unreadable"
        raise AudioFileError(f"{path}: not an audio file libsndfile can read ({reason})") from None
    except (OSError, TypeError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: cannot open ({exc})") from None


def _check(path: str | Path, f: sf.SoundFile) -> None:
    if f.samplerate <= 0 or f.channels <= 0:
        raise AudioFileError(f"{path}: no audio (rate {f.samplerate}, {f.channels} channels)")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Any audio file libsndfile reads → (mono float32 in -1..1, rate). Raises AudioFileError."""
    with _open(path) as f:
        _check(path, f)
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{path}: damaged audio data ({exc})") from None
        return _mono(data), f.samplerate


def _mono(data: np.ndarray) -> np.ndarray:
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32)


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """16-bit mono WAV in memory: a file written in one piece and fsynced (phrases.py), an upload (stt/openai.py)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def write_wav(path: str | Path, pcm: np.ndarray, rate: int) -> None:
    Path(path).write_bytes(wav_bytes(pcm, rate))


class WavMicrophone:
    """Reads a WAV file of any rate and channel count as 80 ms frames of 16 kHz mono int16.

    The file is streamed (an hour of audio costs no memory); ``pace`` 1.0 is real time, 2.0 twice as
    fast, 0 as fast as the consumer reads. ``start_at`` (a wall-clock time, ``time.time()``) starts the file
    then, and a microphone that starts later skips what it would have heard already: several simulated
    devices in one room hear one recording at the same moment (the household tests)."""

    def __init__(self, path: str | Path, pace: float = 1.0, start_at: float | None = None) -> None:
        self.path = Path(path)
        self.pace = pace
        self.start_at = start_at
        with _open(self.path) as f:  # fail early on a bad file
            _check(self.path, f)
            self.duration = f.frames / f.samplerate
        self._closed = threading.Event()

    def _decoded(self) -> Iterator[np.ndarray]:
        with _open(self.path) as f:
            resampler = StreamResampler(f.samplerate, SAMPLE_RATE)
            chunker = FrameChunker(FRAME_SAMPLES)
            block = max(1, f.samplerate // 5)
            while True:
                try:
                    data = f.read(block, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioFileError(f"{self.path}: damaged audio data ({exc})") from None
                last = len(data) < block
                samples = _mono(data) if len(data) else np.zeros(0, np.float32)
                yield from chunker.push(float_to_int16(resampler.process(samples, last=last)))
                if last:
                    break
            tail = chunker.flush()
            if tail is not None:
                yield tail

    def frames(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        if self.start_at is not None:
            start += self.start_at - time.time()
        for index, frame in enumerate(self._decoded()):
            if self.pace > 0:
                due = start + index * FRAME_SECONDS / self.pace
                if self.start_at is not None and due < time.monotonic() - FRAME_SECONDS:
                    continue  # heard before this microphone started
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

    def __init__(self, path: str | Path | None, rate: int = 24_000, pace: float = 1.0, block_ms: int = 40) -> None:
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
        self.journal: deque[tuple[float, int, int]] = deque(maxlen=10_000)
        """(monotonic time it starts to be heard, offset in the file, samples) of the latest plays: what a
        microphone in the room would have heard when, since the file itself has no gaps."""

    def _resampler(self, rate: int) -> StreamResampler:
        if rate not in self._resamplers:
            self._resamplers[rate] = StreamResampler(rate, self.rate)
        return self._resamplers[rate]

    def play(self, pcm: np.ndarray, rate: int, cancel: CancelToken | None = None) -> bool:
        if len(pcm) == 0:
            return not (cancel and cancel.cancelled)
        out = (
            pcm
            if rate == self.rate
            else float_to_int16(self._resampler(rate).process(pcm.astype(np.float32) / 32768.0))
        )
        with self._lock:
            heard = max(self._busy_until, time.monotonic()) if self.pace > 0 else time.monotonic()
            self.journal.append((heard, self.samples_written, len(out)))
        for start in range(0, len(out), self.block):
            if cancel is not None and cancel.cancelled:
                return False
            block = out[start : start + self.block]
            now = time.monotonic()
            with self._lock:
                if self._writer is not None:
                    self._writer.writeframes(block.astype("<i2").tobytes())
                self.samples_written += len(block)
                if self.first_sample_at is None:
                    self.first_sample_at = now
                self._busy_until = max(self._busy_until, now) + (
                    len(block) / self.rate / self.pace if self.pace > 0 else 0.0
                )
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
