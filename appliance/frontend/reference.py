"""What the speaker plays, as the echo canceller's reference, aligned on the microphone's sample clock.

The speaker and the microphone run on different threads and hand audio over in different block sizes, so
wall-clock timestamps would jitter by a block or two on every frame, and an echo canceller wants the delay
between reference and echo to stay constant. Instead, each burst of playback is anchored at the
microphone's position (the number of samples the front end has consumed) when it is pushed, and continuous
playback is appended right after the previous push: the reference then leads its echo by a fixed amount
(device buffer + in-flight capture), which AEC3's delay estimator finds and keeps.
"""

from __future__ import annotations

import threading

import numpy as np

from appliance.audio.convert import StreamResampler, float_to_int16, int16_to_float
from appliance.cancel import CancelToken
from appliance.ports import SAMPLE_RATE, Speaker

#: More reference than this ahead of the microphone means the microphone stopped being read: start over.
MAX_AHEAD_SECONDS = 30.0


class ReferenceBuffer:
    """Thread-safe: the playback path pushes, the front end takes (16 kHz int16)."""

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._mic = 0  # samples the front end has taken so far (the microphone's clock)
        self._start = 0  # index of _pending[0]
        self._pending = np.zeros(0, dtype=np.int16)
        self._resamplers: dict[int, StreamResampler] = {}

    def push(self, pcm: np.ndarray, rate: int) -> None:
        """Int16 mono audio, at ``rate``, that has just been handed to the speaker."""
        if not len(pcm):
            return
        with self._lock:
            if rate != self.rate:
                resampler = self._resamplers.setdefault(rate, StreamResampler(rate, self.rate))
                pcm = float_to_int16(resampler.process(int16_to_float(pcm)))
            else:
                pcm = pcm.astype(np.int16, copy=False)
            end = self._start + len(self._pending)
            if end < self._mic or end - self._mic > MAX_AHEAD_SECONDS * self.rate:
                # a new burst of playback (or a stalled microphone): anchor it where the microphone is now
                self._start, self._pending = self._mic, pcm.copy()
            else:
                self._pending = np.concatenate([self._pending, pcm])

    def take(self, n: int) -> np.ndarray:
        """The reference for the next ``n`` microphone samples (silence where nothing was played)."""
        out = np.zeros(n, dtype=np.int16)
        with self._lock:
            lo = self._mic - self._start
            chunk = self._pending[max(lo, 0) : max(lo + n, 0)]
            offset = max(-lo, 0)
            out[offset : offset + len(chunk)] = chunk[: n - offset]
            self._mic += n
            drop = min(max(self._mic - self._start, 0), len(self._pending))
            if drop:
                self._pending = self._pending[drop:]
                self._start += drop
        return out

    def active(self) -> bool:
        """Whether anything played is still ahead of (or at) the microphone's position."""
        with self._lock:
            return self._start + len(self._pending) > self._mic

    def clear(self) -> None:
        """Forget what was pushed but not heard (playback was cancelled)."""
        with self._lock:
            self._pending = np.zeros(0, dtype=np.int16)
            self._start = self._mic
            self._resamplers.clear()


class ReferenceSpeaker:
    """ports.Speaker that tells a ReferenceBuffer what it plays: wrap the real speaker with it and no
    speaker adapter needs to know about echo cancellation.

    A sound is pushed whole before it is played; a cancelled sound takes the unplayed rest back out, so the
    canceller is not told about audio that never reached the room."""

    def __init__(self, inner: Speaker, reference: ReferenceBuffer) -> None:
        self.inner = inner
        self.reference = reference

    def play(self, pcm: np.ndarray, rate: int, cancel: CancelToken | None = None) -> bool:
        self.reference.push(pcm, rate)
        played = self.inner.play(pcm, rate, cancel)
        if not played:
            self.reference.clear()
        return played

    def drain(self) -> None:
        self.inner.drain()

    def close(self) -> None:
        self.inner.close()
