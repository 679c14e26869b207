"""The turn's transcript: what the realtime session streamed, or the upload of the whole recording when it
could not (a failed stream never costs the user the question, only the time lost)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.deadline import Deadline
from appliance.stt.realtime import RealtimeSession
from appliance.stt.realtime_config import RealtimeSttError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    """The turn's transcript and how it was obtained (for the ``turn`` timings)."""

    text: str
    streamed: bool
    """True if the realtime session delivered it; False if the recording was uploaded instead."""
    error: RealtimeSttError | None
    """Why the stream was abandoned (None when it worked)."""
    final_after_end_ms: float
    """From the end of the turn (this call) to the final transcript."""
    segments: int = 0
    """Items the stream committed (pauses + the tail); 0 when nothing streamed."""


def transcribe_with_fallback(
    session: RealtimeSession | None,
    recording: npt.NDArray[np.int16],
    upload: Callable[[npt.NDArray[np.int16]], str],
    *,
    deadline: Deadline | None = None,
    clock: Callable[[], float] = time.monotonic,
    commit_tail: bool = True,
) -> Transcript:
    """The streamed transcript, or the batch upload of ``recording`` when the stream failed (or never ran).

    ``commit_tail`` goes to :meth:`RealtimeSession.finish`. Cancelled propagates: a stopped turn uploads
    nothing."""
    start = clock()
    error: RealtimeSttError | None = None
    if session is not None:
        try:
            text = session.finish(deadline, commit_tail=commit_tail)
            return Transcript(text.strip(), True, None, (clock() - start) * 1000.0, session.segments)
        except RealtimeSttError as e:
            error = e
            log.warning("streaming transcription failed (%s), uploading the recording", e.failure.value)
    text = upload(recording)
    return Transcript(text, False, error, (clock() - start) * 1000.0)
