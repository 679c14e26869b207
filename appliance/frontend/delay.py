"""Measures how far the echo lags the reference, from the audio itself, so no device has to be calibrated by
hand. The lag is not a constant of the device: on the loaded test server it was 124, 145 and 212 ms for
three answers in a row (the output stream restarts for each sound) and grew by 30-80 ms in steps within one
answer (every output underrun delays the rest of the sound), and has been seen near 0.9 s. So the lag is
measured as soon as a burst of playback has lasted long enough, then checked every quarter second on the
most recent audio, searching near the last estimate (a step is seen within ~0.5 s).

GCC-PHAT: the cross-spectrum whitened to its phase gives a sharp peak at the lag even for speech, whose
spectrum is far from flat. Pure: fed arrays, no clock.
"""

from __future__ import annotations

import numpy as np

from appliance.ports import SAMPLE_RATE


def estimate_lag(reference: np.ndarray, mic: np.ndarray, max_lag: int) -> tuple[int, float]:
    """(lag in samples by which ``mic`` trails ``reference``, confidence = peak / mean |correlation|)."""
    n = len(reference) + len(mic)
    size = 1 << (n - 1).bit_length()
    cross = np.fft.rfft(mic.astype(np.float64), size) * np.conj(np.fft.rfft(reference.astype(np.float64), size))
    cross /= np.abs(cross) + 1e-9
    corr = np.abs(np.fft.irfft(cross, size)[: max_lag + 1])
    lag = int(np.argmax(corr))
    return lag, float(corr[lag] / (np.mean(corr) + 1e-12))


class DelayTracker:
    """Keeps the reference and the microphone since the current burst of playback began and estimates the
    lag as soon as the history is long enough to contain it: ``window`` of reference and as much lag as the
    microphone has heard since (a short lag is found sooner than the longest one allowed). Once a lag is
    known, only lags up to ``search_above`` beyond it are searched, on the newest audio."""

    def __init__(
        self,
        *,
        window_seconds: float = 1.0,
        max_lag_seconds: float = 1.5,
        hop_seconds: float = 0.25,
        search_above_seconds: float = 0.3,
        min_confidence: float = 20.0,
        rate: int = SAMPLE_RATE,
    ) -> None:
        self.window = int(window_seconds * rate)
        self.max_lag = int(max_lag_seconds * rate)
        self.hop = int(hop_seconds * rate)
        self.search_above = int(search_above_seconds * rate)
        self.silence_reset = int(0.5 * rate)  # this much silent reference ends a burst
        self.min_confidence = min_confidence
        self.margin = int(0.02 * rate)  # a peak at the edge of the searched range may be a longer lag's flank
        self.lag: int | None = None
        self.confidence = 0.0
        self._ref = np.zeros(0, dtype=np.int16)
        self._mic = np.zeros(0, dtype=np.int16)
        self._quiet = self.silence_reset
        self._since_check = 0

    def feed(self, reference: np.ndarray, mic: np.ndarray, playing: bool) -> int | None:
        """One block of each (same length); returns a new lag estimate when one is made."""
        self._quiet = 0 if reference.any() else self._quiet + len(reference)
        if self._quiet >= self.silence_reset + self.max_lag:
            # the burst (and its echo) is over: the next one starts a fresh history
            self._ref, self._mic = self._ref[:0], self._mic[:0]
            return None
        if not len(self._ref) and not reference.any():
            return None
        keep = self.window + self.max_lag
        self._ref = np.concatenate([self._ref, reference])[-keep:]
        self._mic = np.concatenate([self._mic, mic])[-keep:]
        self._since_check += len(reference)
        if self._since_check < self.hop:
            return None
        self._since_check = 0
        n = len(self._ref)
        limit = self.max_lag if self.lag is None else min(self.max_lag, self.lag + self.search_above)
        lag_room = min(limit, n - self.window)
        if lag_room <= self.margin:
            return None
        start = n - self.window - lag_room
        ref = self._ref[start : start + self.window]
        if np.sqrt(np.mean(ref.astype(np.float64) ** 2)) < 30:
            return None
        lag, confidence = estimate_lag(ref, self._mic[start:], lag_room)
        if confidence < self.min_confidence or (lag > lag_room - self.margin and lag_room < self.max_lag):
            if self.lag is not None and lag_room == limit < self.max_lag and n - self.window > limit:
                self.lag = None  # nothing near the last lag: search the whole range next time
            return None
        self.lag, self.confidence = lag, confidence
        return lag
