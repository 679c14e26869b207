"""The front end's port, the pass-through, and the factory that falls back to it when the WebRTC wheel is
missing (the appliance still runs, and says so once)."""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from appliance.config.frontend import FrontEndSettings
from appliance.frontend.frames import check_frame
from appliance.frontend.reference import ReferenceBuffer
from appliance.ports import FRAME_SAMPLES

log = logging.getLogger(__name__)


class FrontEnd(Protocol):
    #: what the speaker played at the position of the frame last processed (16 kHz int16, before the
    #: reference's delay line; zeros when nothing played): the barge-in's own-voice check listens to it
    last_reference: np.ndarray

    def process(self, frame: np.ndarray) -> np.ndarray:
        """One 80 ms microphone frame (int16, 16 kHz) in, the cleaned frame out (same shape)."""
        ...

    def reference(self, pcm: np.ndarray, rate: int) -> None:
        """Audio just handed to the speaker (int16 mono at ``rate``): the echo to remove."""
        ...

    def set_delay_ms(self, delay_ms: int) -> None: ...

    def reset(self) -> None: ...


class PassThroughFrontEnd:
    """The front end switched off: frames go through untouched, the reference is kept only so the buffer's
    clock advances as it would (a later switch-on starts aligned)."""

    def __init__(self, buffer: ReferenceBuffer | None = None) -> None:
        self.buffer = buffer or ReferenceBuffer()
        self.last_reference = np.zeros(FRAME_SAMPLES, dtype=np.int16)

    def process(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame)
        self.last_reference = self.buffer.take(FRAME_SAMPLES)
        return frame

    def reference(self, pcm: np.ndarray, rate: int) -> None:
        self.buffer.push(pcm, rate)

    def set_delay_ms(self, delay_ms: int) -> None:
        pass

    def reset(self) -> None:
        self.buffer.clear()


_warned: set[str] = set()


def make_frontend(settings: FrontEndSettings, buffer: ReferenceBuffer | None = None) -> FrontEnd:
    """The WebRTC front end the settings ask for, or the pass-through when it is switched off or the
    `livekit` wheel cannot be imported (logged once per process)."""
    settings.validate()
    buffer = buffer or ReferenceBuffer()
    stages = (settings.echo_cancellation, settings.noise_suppression, settings.high_pass, settings.auto_gain)
    if not settings.enabled or not any(stages):
        return PassThroughFrontEnd(buffer)
    try:
        from appliance.frontend.webrtc import WebRtcFrontEnd

        return WebRtcFrontEnd(settings, buffer)
    except ImportError as exc:
        if "import" not in _warned:
            _warned.add("import")
            log.warning(
                "audio front end off: the WebRTC audio processing (the livekit package) cannot be "
                "imported here (%s); echo cancellation and noise suppression are not available",
                exc,
            )
        return PassThroughFrontEnd(buffer)
