"""The front end's frame and block sizes, shared by the pass-through and the WebRTC processing."""

from __future__ import annotations

import numpy as np

from appliance.ports import FRAME_SAMPLES

#: 10 ms at 16 kHz: the block size of the WebRTC audio processing module.
BLOCK_SAMPLES = 160
BLOCKS_PER_FRAME = FRAME_SAMPLES // BLOCK_SAMPLES


def check_frame(frame: np.ndarray) -> None:
    if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
        raise ValueError(f"front end frames are {FRAME_SAMPLES} int16 samples, got {frame.dtype}{frame.shape}")
