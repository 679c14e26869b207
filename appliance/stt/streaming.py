"""Transcription while the user speaks: the realtime session of the turn in progress, with the batch upload
of the same recording as its fallback, behind the ordinary ``Transcriber`` port.

The app opens a session when a turn opens (wake word or button: never before), feeds it every recorded
frame, commits a segment at each pause (so the words so far are there for the endpoint policy, and only the
last stretch is left to transcribe), and the turn's ``transcribe`` then only waits for the final transcript.
If the socket could not connect, broke, stalled or erred, the recording (kept in memory anyway) is uploaded
instead, so the user hears at most the time lost. The upload's client (the OpenAI SDK, slow to import and heavy
to hold) is only the fallback: it is prepared when a turn's stream first fails, while the user may still speak.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.events import Event, Info, PartialTranscript
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.ports import Transcriber
from appliance.stt.fallback import transcribe_with_fallback
from appliance.stt.realtime import MIN_COMMIT_SAMPLES, RealtimeSession, RealtimeSttOptions
from appliance.stt.segments import join
from appliance.timings import TurnTimings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _EarlyCommit:
    on_text: Callable[[str], None]


class _Stream:
    """One turn's session, made in the background (opening the turn never waits): frames and commits that
    arrive before it exists wait in ``early``, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: RealtimeSession | None = None
        self.early: list[np.ndarray | _EarlyCommit] = []
        self.early_samples = 0  # in ``early`` since its last commit
        self.ready = threading.Event()
        self.dropped = False
        self.waiting: dict[int, Callable[[str], None]] = {}  # segment index -> commit_segment's on_text
        self.texts: dict[int, str] = {}
        self.reported = 0  # segments below this index have all arrived (and their on_text ran)
        self.commit_tail = True  # set_commit_tail: whether the audio after the last commit is transcribed

    def arrived(self, index: int, text: str) -> list[tuple[Callable[[str], None], str]]:
        """The on_text calls due now that ``index`` arrived: each waits for every earlier segment too, so the
        text it gets is the turn up to its pause, in order, even when the items complete out of order."""
        calls = []
        with self.lock:
            self.texts[index] = text
            while self.reported in self.texts:
                on_text = self.waiting.pop(self.reported, None)
                if on_text is not None:
                    calls.append((on_text, join(self.texts[i] for i in range(self.reported + 1))))
                self.reported += 1
        return calls


class StreamingTranscriber:
    def __init__(
        self,
        endpoint: OpenAiEndpoint,
        batch: Transcriber,
        options: RealtimeSttOptions,
        emit: Callable[[Event], None],
        *,
        prepare_fallback: Callable[[], object] | None = None,
    ) -> None:
        """``endpoint``: where the realtime sockets open, with the key; ``batch`` uploads the recording when the
        stream fails. ``prepare_fallback`` is called when a turn's stream fails or cannot be started (on the
        thread that found it: it should only start the preparation, e.g. build ``batch`` in the background)."""
        self._endpoint = endpoint
        self._batch = batch
        self._prepare_fallback = prepare_fallback
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
            session = RealtimeSession(
                self._endpoint,
                self._options,
                on_partial=self._partial,
                on_segment=lambda index, text: self._segment(stream, index, text),
                on_failure=lambda _error: self._prepare(),
            )
            session.start()
        except Exception as exc:  # no stream this turn: the upload will do
            log.warning("streaming transcription not started: %s", exc)
            self._prepare()
            stream.ready.set()
            return
        with stream.lock:
            if stream.dropped:
                session.abort()
            else:
                for entry in stream.early:
                    if isinstance(entry, _EarlyCommit):
                        index = session.commit()
                        if index is not None:
                            stream.waiting[index] = entry.on_text
                    else:
                        session.feed(entry)
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
                stream.early_samples += len(frame)

    def commit_segment(self, on_text: Callable[[str], None]) -> bool:
        """A pause: make what was fed since the last commit a segment the cloud transcribes now. Never blocks.

        False when no session is live (no turn, no stream this turn, or it failed) or there is nothing to
        commit (under the API's 0.1 s minimum since the last commit; frames still waiting for the socket
        count). ``on_text`` later gets the text of every segment up to this one, joined, once they have all
        arrived; it runs on the socket's reader thread, so keep it short (hand it to your own loop) and never
        wait on the transcriber from it (``transcribe`` would wait for that very thread). It is not called if
        the stream fails (the turn's ``transcribe`` then uploads the recording)."""
        with self._lock:
            stream = self._stream
        if stream is None:
            return False
        with stream.lock:  # held across commit and registration: the text cannot arrive before its callback
            if stream.dropped:
                return False
            session = stream.session
            if session is None:
                if stream.ready.is_set() or stream.early_samples < MIN_COMMIT_SAMPLES:
                    return False  # the session could not be made, or too little to commit yet
                stream.early.append(_EarlyCommit(on_text))
                stream.early_samples = 0
                return True
            index = session.commit()
            if index is None:
                return False
            stream.waiting[index] = on_text
            return True

    def set_commit_tail(self, commit_tail: bool) -> None:
        """The recording ended: False when nothing was said since the last ``commit_segment`` (the listener
        knows; the transcriber hears only audio), so the trailing silence is not sent to be transcribed."""
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.commit_tail = commit_tail

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
        commit_tail: bool = True,
    ) -> str:
        """The turn's transcript: commits the tail unless ``commit_tail`` is False (the audio since the last
        pause is the trailing silence the endpoint waited out), waits for every segment, and uploads the whole
        recording instead if the stream failed."""
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
                session,
                pcm,
                lambda audio: self._batch.transcribe(audio, cancel, deadline=deadline),
                deadline=deadline,
                commit_tail=commit_tail and (stream is None or stream.commit_tail),
            )
        finally:
            remove()
        if timings is not None:
            timings.value("transcript_final_after_end_ms", result.final_after_end_ms)
            timings.value("transcript_streamed", 1.0 if result.streamed else 0.0)
            timings.value("transcript_segments", float(result.segments))
        if result.error is not None or session is None:
            why = result.error.failure.value if result.error is not None else "not connected"
            self._emit(Info("stt_fallback", f"streaming transcription failed ({why}); the recording was uploaded"))
        return result.text

    def warm(self) -> None:
        from appliance.stt.realtime import preload

        preload()

    def _prepare(self) -> None:
        if self._prepare_fallback is not None:
            self._prepare_fallback()

    def _partial(self, text: str) -> None:
        self._emit(PartialTranscript(text))

    def _segment(self, stream: _Stream, index: int, text: str) -> None:
        for on_text, so_far in stream.arrived(index, text):
            on_text(so_far)
