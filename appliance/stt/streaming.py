"""Transcription while the user speaks: the realtime session of the turn in progress, with the batch upload
of the same recording as its fallback, behind the ordinary ``Transcriber`` port.

The app opens a session when a turn opens (wake word or button: never before), feeds it every recorded
frame, and the turn's ``transcribe`` then only waits for the final transcript. If the socket could not
connect, broke, stalled or erred, the recording (kept in memory anyway) is uploaded instead, so the user
hears at most the time lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..cancel import CancelToken
from ..deadline import Deadline
from ..events import Event, Info, PartialTranscript
from ..ports import Transcriber
from ..timings import TurnTimings
from .realtime import RealtimeSession, RealtimeSttOptions, transcribe_with_fallback

log = logging.getLogger(__name__)


class _Stream:
    """One turn's session, made in the background (the SDK may still be loading): frames that arrive before
    it exists wait in ``early``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: RealtimeSession | None = None
        self.early: list[np.ndarray] = []
        self.ready = threading.Event()
        self.dropped = False


class StreamingTranscriber:
    def __init__(
        self, client: Callable[[], Any], batch: Transcriber, options: RealtimeSttOptions, emit: Callable[[Event], None]
    ) -> None:
        """``client`` returns the OpenAI client the session uses (called off the main loop: the SDK import
        is slow); ``batch`` uploads the recording when the stream fails."""
        self._client = client
        self._batch = batch
        self._options = options
        self._emit = emit
        self._lock = threading.Lock()
        self._stream: _Stream | None = None

    def begin(self) -> None:
        """A turn opened: start streaming its audio. Never blocks (the socket opens in the background)."""
        self.discard()
        stream = _Stream()
        with self._lock:
            self._stream = stream
        threading.Thread(target=self._open, args=(stream,), name="stt-realtime-open", daemon=True).start()

    def _open(self, stream: _Stream) -> None:
        try:
            session = RealtimeSession(self._client(), self._options, on_partial=self._partial)
            session.start()
        except Exception as exc:  # no stream this turn: the upload will do
            log.warning("streaming transcription not started: %s", exc)
            stream.ready.set()
            return
        with stream.lock:
            if stream.dropped:
                session.abort()
            else:
                for frame in stream.early:
                    session.feed(frame)
                stream.early = []
                stream.session = session
        stream.ready.set()

    def feed(self, frame: np.ndarray) -> None:
        with self._lock:
            stream = self._stream
        if stream is None:
            return
        with stream.lock:
            if stream.session is not None:
                stream.session.feed(frame)
            elif len(stream.early) < self._options.queue_frames:
                stream.early.append(frame)

    def discard(self) -> None:
        """The recording was dropped (a press, mute, no speech): close its stream."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with stream.lock:
                stream.dropped = True
                session, stream.session = stream.session, None
            if session is not None:
                session.abort()

    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> str:
        with self._lock:
            stream, self._stream = self._stream, None
        session: RealtimeSession | None = None
        if stream is not None:
            wait = self._options.connect_timeout if deadline is None else deadline.cap(self._options.connect_timeout)
            stream.ready.wait(wait)
            with stream.lock:
                stream.dropped = True  # a session made after this point is closed at once
                session = stream.session
        remove = cancel.on_cancel(session.abort) if session is not None else (lambda: None)
        try:
            result = transcribe_with_fallback(
                session, pcm, lambda audio: self._batch.transcribe(audio, cancel, deadline=deadline), deadline=deadline
            )
        finally:
            remove()
        if timings is not None:
            timings.value("transcript_final_after_end_ms", result.final_after_end_ms)
            timings.value("transcript_streamed", 1.0 if result.streamed else 0.0)
        if result.error is not None or session is None:
            why = result.error.failure.value if result.error is not None else "not connected"
            self._emit(Info("stt_fallback", f"streaming transcription failed ({why}); the recording was uploaded"))
        return result.text

    def warm(self) -> None:
        from .realtime import preload

        preload()

    def _partial(self, text: str) -> None:
        self._emit(PartialTranscript(text))
