"""The front end on WebRTC's audio processing module (AEC3, noise suppression, high-pass, AGC) as the
`livekit` package ships it: Apache-2.0, wheels for aarch64 and x86_64, no PulseAudio module to configure.

The module is fed 10 ms blocks: for each block of microphone audio, first the reference block that the
speaker played at the same position of the microphone's clock, then the microphone block itself.
"""

from __future__ import annotations

import numpy as np
from livekit import rtc

from appliance.config.frontend import FrontEndSettings
from appliance.frontend.delay import DelayTracker
from appliance.frontend.frames import BLOCK_SAMPLES, check_frame
from appliance.frontend.reference import ReferenceBuffer
from appliance.ports import FRAME_SAMPLES, SAMPLE_RATE
from appliance.wake.gate import frame_db

#: The hint given to the canceller: how far ahead of its echo the (delayed) reference is.
LEAD_MS = 30
#: Echo lags (beyond the delay line) that AEC3 follows by itself: on the test server it tracked lags from
#: 120 to 360 ms that changed in steps mid-answer as well as any correction of the line did. Moving the line
#: makes it converge again (~1-2 s of weaker cancellation), so the line moves only when the lag leaves this.
AEC3_RANGE_MS = (5, 400)
#: Where a moved delay line puts the lag: room for the next burst's lag to fall or rise by ~150 ms.
RELINE_MS = 150


class WebRtcFrontEnd:
    def __init__(self, settings: FrontEndSettings, buffer: ReferenceBuffer | None = None) -> None:
        self.settings = settings
        self.buffer = buffer or ReferenceBuffer()
        self._apm = self._new_apm()
        self._line = np.zeros(0, dtype=np.int16)  # the reference delay line
        self.delay_ms = 0
        self.set_delay_ms(settings.reference_delay_ms)
        self._tracker = DelayTracker() if settings.echo_cancellation and settings.measure_delay else None
        self.measured_delay_ms: int | None = None
        self.bypassed = 0  # frames that skipped the processing (quiet, nothing playing): for the benchmark
        self.last_reference = np.zeros(FRAME_SAMPLES, dtype=np.int16)

    def _new_apm(self) -> rtc.AudioProcessingModule:
        s = self.settings
        return rtc.AudioProcessingModule(
            echo_cancellation=s.echo_cancellation,
            noise_suppression=s.noise_suppression,
            high_pass_filter=s.high_pass,
            auto_gain_control=s.auto_gain,
        )

    def process(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame)
        playing = self.buffer.active()
        taken = self.last_reference = self.buffer.take(FRAME_SAMPLES)
        if self._tracker is not None:
            lag = self._tracker.feed(taken, frame, playing)
            if lag is not None:
                self.measured_delay_ms = round(lag * 1000 / SAMPLE_RATE)
                residual = self.measured_delay_ms - self.delay_ms
                if not AEC3_RANGE_MS[0] <= residual <= AEC3_RANGE_MS[1]:
                    # the reference must stay ahead of its echo (AEC3 only looks backwards in time)
                    self.set_delay_ms(max(0, self.measured_delay_ms - RELINE_MS))
                    # a fresh module: the old one, adapted to a misaligned reference, stayed ~10 dB worse
                    # for the rest of the answer than one started on the new line (45 dB after 2 s)
                    self._apm = self._new_apm()
        line = np.concatenate([self._line, taken])
        reference, self._line = line[:FRAME_SAMPLES], line[FRAME_SAMPLES:]
        playing = playing or bool(line.any())
        # the pre-emphasized level: a quiet room's low-frequency noise swings its plain RMS by +-4 dB, and
        # the odd processed frame (quieter after noise suppression) among bypassed ones would open the gate
        if not playing and frame_db(frame) < self.settings.idle_bypass_db:
            self.bypassed += 1
            return frame
        out = bytearray(frame.astype("<i2").tobytes())
        ref = bytearray(reference.astype("<i2").tobytes())
        step = BLOCK_SAMPLES * 2
        for start in range(0, len(out), step):
            if self.settings.echo_cancellation:
                far = rtc.AudioFrame(ref[start : start + step], SAMPLE_RATE, 1, BLOCK_SAMPLES)
                self._apm.process_reverse_stream(far)
                self._apm.set_stream_delay_ms(LEAD_MS)
            near = rtc.AudioFrame(out[start : start + step], SAMPLE_RATE, 1, BLOCK_SAMPLES)
            self._apm.process_stream(near)
            out[start : start + step] = bytes(near.data.cast("B"))
        return np.frombuffer(bytes(out), dtype="<i2").astype(np.int16)

    def reference(self, pcm: np.ndarray, rate: int) -> None:
        self.buffer.push(pcm, rate)

    def set_delay_ms(self, delay_ms: int) -> None:
        """Delay the reference by this much before the canceller sees it (the output path's latency)."""
        self.delay_ms = max(0, int(delay_ms))
        want = self.delay_ms * SAMPLE_RATE // 1000
        have = len(self._line)
        if want > have:
            self._line = np.concatenate([np.zeros(want - have, dtype=np.int16), self._line])
        else:
            self._line = self._line[have - want :]

    def reset(self) -> None:
        """A fresh module (filters re-converge within a second or two of playback) and no pending reference."""
        self._apm = self._new_apm()
        self.buffer.clear()
        self._line[:] = 0
