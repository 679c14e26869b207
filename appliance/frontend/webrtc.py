"""The front end on WebRTC's audio processing module (AEC3, noise suppression, high-pass, AGC) as the
`livekit` package ships it: Apache-2.0, wheels for aarch64 and x86_64, no PulseAudio module to configure.

The module is fed 10 ms blocks: for each block of microphone audio, first the reference block that the
speaker played at the same position of the microphone's clock, then the microphone block itself.
"""

from __future__ import annotations

import numpy as np
from livekit import rtc

from ..ports import FRAME_SAMPLES, SAMPLE_RATE
from .base import BLOCK_SAMPLES, check_frame
from .reference import ReferenceBuffer
from .settings import FrontEndSettings


def rms_db(frame: np.ndarray) -> float:
    """RMS level in dBFS (-120 for digital silence)."""
    energy = float(np.mean(np.square(frame, dtype=np.float64)))
    return 10.0 * float(np.log10(energy / 32768.0**2)) if energy > 0 else -120.0


class WebRtcFrontEnd:
    def __init__(self, settings: FrontEndSettings, buffer: ReferenceBuffer | None = None) -> None:
        self.settings = settings
        self.buffer = buffer or ReferenceBuffer()
        self._delay_ms = settings.reference_delay_ms
        self._apm = self._new_apm()
        self.bypassed = 0  # frames that skipped the processing (quiet, nothing playing): for the benchmark

    def _new_apm(self) -> rtc.AudioProcessingModule:
        s = self.settings
        return rtc.AudioProcessingModule(echo_cancellation=s.echo_cancellation, noise_suppression=s.noise_suppression,
                                         high_pass_filter=s.high_pass, auto_gain_control=s.auto_gain)

    def process(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame)
        playing = self.buffer.active()
        reference = self.buffer.take(FRAME_SAMPLES)
        if not playing and rms_db(frame) < self.settings.idle_bypass_db:
            self.bypassed += 1
            return frame
        out = bytearray(frame.astype("<i2").tobytes())
        ref = bytearray(reference.astype("<i2").tobytes())
        step = BLOCK_SAMPLES * 2
        for start in range(0, len(out), step):
            if self.settings.echo_cancellation:
                far = rtc.AudioFrame(ref[start:start + step], SAMPLE_RATE, 1, BLOCK_SAMPLES)
                self._apm.process_reverse_stream(far)
                self._apm.set_stream_delay_ms(self._delay_ms)
            near = rtc.AudioFrame(out[start:start + step], SAMPLE_RATE, 1, BLOCK_SAMPLES)
            self._apm.process_stream(near)
            out[start:start + step] = bytes(near.data.cast("B"))
        return np.frombuffer(bytes(out), dtype="<i2").astype(np.int16)

    def reference(self, pcm: np.ndarray, rate: int) -> None:
        self.buffer.push(pcm, rate)

    def set_delay_ms(self, delay_ms: int) -> None:
        self._delay_ms = max(0, int(delay_ms))

    def reset(self) -> None:
        """A fresh module (filters re-converge within a second or two of playback) and no pending reference."""
        self._apm = self._new_apm()
        self.buffer.clear()
