"""Transcription while the user speaks: OpenAI's realtime transcription session over a WebSocket.

The turn is opened (wake word or button) before anything is sent: ``start()`` connects in a worker thread, so the
listener's thread never waits for the network. The listener ``feed()``s 16 kHz frames into a bounded queue (never
blocking); the worker resamples them to the 24 kHz ``audio/pcm`` the API accepts and appends them. The appliance
(not the server: ``turn_detection`` is off) commits at every pause, so each stretch of speech is transcribed while
the end-of-turn model still decides and the partial text is there to veto a cut after a dangling word; at the end
of the turn ``finish()`` commits the tail and waits for every item, joined in commit order.

Every failure (no connection, a refused upgrade, a close or stall mid-session, an ``error`` event, events out of
order or malformed, a full queue) becomes :class:`RealtimeSttError` at once or, at the latest, when ``finish()``
runs out of time. The caller keeps the recording in memory and falls back to the batch upload of all of it. A
broken socket is never reopened: a new socket would start a new, empty audio buffer.

The socket is spoken directly (:mod:`appliance.llm.openai_socket`: JSON events over ``websockets``), not through
the OpenAI SDK, whose import alone holds ~30 MB of the Pi's memory; the SDK is loaded only if the upload is needed.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import cast

import numpy as np
import numpy.typing as npt

from appliance.audio.convert import StreamResampler, float_to_int16, int16_to_float
from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.errors import Cancelled
from appliance.llm.openai_socket import Event, OpenAiEndpoint, OpenAiSocket
from appliance.stt.realtime_config import API_RATE, MIC_RATE, Failure, RealtimeSttError, RealtimeSttOptions
from appliance.stt.realtime_connect import open_socket, set_up_session
from appliance.stt.segments import OutOfOrder, SegmentLedger
from appliance.text.clean import clean_text

__all__ = [
    "API_RATE",
    "MIC_RATE",
    "MIN_COMMIT_SAMPLES",
    "Failure",
    "RealtimeSession",
    "RealtimeSttError",
    "RealtimeSttOptions",
    "preload",
]

log = logging.getLogger(__name__)


def preload() -> None:
    """Import the WebSocket client now (at start-up), so its first import does not land inside the first turn.
    The OpenAI SDK is not imported: the session does without it."""
    import websockets.sync.client  # noqa: F401

    import appliance.llm.openai_socket  # noqa: F401


_COMMIT = object()
_END = object()
_STOP = object()
MIN_COMMIT_SAMPLES = MIC_RATE // 10  # the API refuses to commit less than 0.1 s ("input_audio_buffer_commit_empty")

# The server events the session reads (the ``type`` of the SDK's models of the same names).
ERROR = "error"  # RealtimeErrorEvent
CREATED = "session.created"  # SessionCreatedEvent
UPDATED = "session.updated"  # SessionUpdatedEvent
COMMITTED = "input_audio_buffer.committed"  # InputAudioBufferCommittedEvent
DELTA = "conversation.item.input_audio_transcription.delta"  # ...TranscriptionDeltaEvent
COMPLETED = "conversation.item.input_audio_transcription.completed"  # ...TranscriptionCompletedEvent
FAILED = "conversation.item.input_audio_transcription.failed"  # ...TranscriptionFailedEvent

_STR, _STR_OR_NONE = (str,), (str, type(None))
#: The fields read from the item events, and the types they must have: anything else is a PROTOCOL failure.
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    COMMITTED: {"item_id": _STR, "previous_item_id": _STR_OR_NONE},
    DELTA: {"item_id": _STR, "delta": _STR_OR_NONE},
    COMPLETED: {"item_id": _STR, "transcript": _STR},
}


class RealtimeSession:
    """One turn's streaming transcription. Methods may be called from different threads; none blocks except
    ``finish()``, which waits at most its deadline.

    Each ``commit()`` (at a pause) makes a conversation item the server transcribes while the user goes on, so
    at the end of the turn only the last stretch is left to transcribe. ``on_partial`` runs on the reader
    thread with the whole turn so far (keep it short: emit an event); ``on_segment`` runs there too, once per
    item, as its transcript completes: possibly out of commit order, hence the index. ``on_failure`` runs once,
    on the thread that found it, when the session fails on its own (not when it is closed or aborted): the
    caller may start preparing the upload while the user still speaks (keep it short too)."""

    def __init__(
        self,
        endpoint: OpenAiEndpoint,
        options: RealtimeSttOptions | None = None,
        *,
        on_partial: Callable[[str], None] | None = None,
        on_segment: Callable[[int, str], None] | None = None,
        on_failure: Callable[[RealtimeSttError], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.options = options or RealtimeSttOptions()
        self.on_partial = on_partial
        self.on_segment = on_segment
        self.on_failure = on_failure
        self.cancel = cancel
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.options.queue_frames)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._done = threading.Event()  # the outcome is settled: the text or the failure
        self._error: RealtimeSttError | None = None
        self._connection: OpenAiSocket | None = None
        self._closing = False
        self._started = False
        self._ended = False  # finish() ran: nothing more is fed or committed
        self._sent_all = False  # the worker has sent everything queued before finish()
        self._seen_created = False
        self._seen_updated = False
        self._ledger = SegmentLedger()
        self._uncommitted = 0  # 16 kHz samples queued since the last commit
        self._sent_at: list[float] = []  # when the worker sent each commit (a slow connect is no stall)
        self._unregister: Callable[[], None] = lambda: None
        self._worker: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self.audio_seconds = 0.0

    # --- the caller's side --------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the socket in the background (call once the turn is open, never before)."""
        if self._started:
            raise RealtimeSttError(Failure.STATE, "session started twice")
        self._started = True
        if self.cancel is not None:
            self._unregister = self.cancel.on_cancel(self.abort)
        self._worker = threading.Thread(target=self._run, name="stt-realtime-send", daemon=True)
        self._worker.start()

    def feed(self, pcm16k: npt.NDArray[np.int16]) -> None:
        """Queue a 16 kHz int16 chunk. Never blocks: a full queue fails the session (the socket is not moving)."""
        frame = np.asarray(pcm16k, dtype=np.int16).copy()
        with self._lock:
            if self._error is not None or self._closing or self._ended:
                return
            try:
                self._queue.put_nowait(frame)
            except queue.Full:
                pass
            else:
                self._uncommitted += len(frame)
                return
        self._fail(RealtimeSttError(Failure.OVERFLOW, "the realtime socket fell behind the microphone"))

    def commit(self) -> int | None:
        """Make what was fed since the last commit an item of its own (at a pause), so the server transcribes it
        while the user may still go on. Never blocks. The item's index in the turn, or None: less than the API's
        0.1 s minimum (nothing is sent), or the session has failed or ended."""
        if self._ended:
            return None
        return self._commit()

    @property
    def failed(self) -> RealtimeSttError | None:
        """The failure so far, if any: the listener may stop feeding and plan the upload early."""
        return self._error

    @property
    def partial(self) -> str:
        """The turn so far, in commit order (items still transcribing as far as their deltas go)."""
        with self._lock:
            return self._ledger.partial()

    @property
    def segments(self) -> int:
        return len(self._ledger)

    def finish(self, deadline: Deadline | None = None, *, commit_tail: bool = True) -> str:
        """Commit the rest (unless ``commit_tail`` is False: the caller knows it is silence, or it is under
        0.1 s), wait for every item's transcript, and return them joined in commit order. Raises
        RealtimeSttError (fall back to the upload) or Cancelled; closes the session in every case."""
        deadline = deadline or Deadline.unlimited()
        text = ""
        try:
            if not self._started:
                raise RealtimeSttError(Failure.STATE, "finish() before start()")
            if commit_tail:
                self._commit()
            with self._lock:
                self._ended = True
            if self._error is None:
                try:
                    self._queue.put(_END, timeout=deadline.cap(0.2))
                except queue.Full:
                    self._fail(RealtimeSttError(Failure.OVERFLOW, "no room to end the turn: the socket is not moving"))
            wait = deadline.cap(self.options.finish_timeout)
            with self._changed:
                ready = self._changed.wait_for(
                    lambda: self._error is not None or (self._sent_all and self._ledger.done()), wait
                )
                if ready and self._error is None:
                    self._done.set()  # settled: closing the socket now is no failure
                    text = self._ledger.text()
                pending = self._ledger.pending()
            if not ready:
                self._fail(RealtimeSttError(Failure.STALL, f"no transcript for item(s) {pending} {wait:.2f} s on"))
            if self.cancel is not None and self.cancel.cancelled:
                raise Cancelled(self.cancel.reason)
            if self._error is not None:
                raise self._error
            return text
        finally:
            self.close()

    def close(self) -> None:
        """End the session politely (a close frame); idempotent."""
        self._shutdown(abort=False)

    def abort(self) -> None:
        """Cut the socket at once (cancel): a blocked send or read returns immediately."""
        self._fail(RealtimeSttError(Failure.CLOSED, "cancelled"), report=False)
        self._shutdown(abort=True)

    def _commit(self) -> int | None:
        wait, now = self.options.finish_timeout, time.monotonic()
        with self._lock:
            sent = self._sent_at
            overdue = [i for i in self._ledger.pending() if i < len(sent) and now - sent[i] > wait]
            if overdue or self._error is not None or self._closing or self._uncommitted < MIN_COMMIT_SAMPLES:
                index: int | None = None
            else:
                try:
                    self._queue.put_nowait(_COMMIT)
                    index = self._ledger.add()
                    self._uncommitted = 0
                except queue.Full:
                    index = -1
        if overdue:  # seen at the next pause rather than only at the end of the turn
            self._fail(RealtimeSttError(Failure.STALL, f"no transcript for item(s) {overdue} {wait:.2f} s on"))
        elif index == -1:
            self._fail(RealtimeSttError(Failure.OVERFLOW, "no room to commit: the socket is not moving"))
            return None
        return index

    # --- the worker and the reader ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            connection = self._connect()
        except RealtimeSttError as e:
            self._fail(e)
            return
        if connection is None:
            return
        resampler = StreamResampler(MIC_RATE, API_RATE)
        while True:
            item = self._queue.get()
            if item is _STOP or self._error is not None or self._closing:
                return
            try:
                if item is _END:
                    with self._changed:
                        self._sent_all = True
                        self._changed.notify_all()
                    return
                if item is _COMMIT:
                    # The filter's tail belongs to this item (each is transcribed on its own); the next item
                    # starts a fresh filter, at a pause, so no click is heard and 0.1 s fed is 0.1 s sent.
                    self._append(connection, resampler.process(np.zeros(0, dtype=np.float32), last=True))
                    resampler = StreamResampler(MIC_RATE, API_RATE)
                    connection.send({"type": "input_audio_buffer.commit"})
                    with self._lock:
                        self._sent_at.append(time.monotonic())
                    continue
                pcm = cast(npt.NDArray[np.int16], item)
                self.audio_seconds += len(pcm) / MIC_RATE
                self._append(connection, resampler.process(int16_to_float(pcm)))
            except Exception as e:  # websockets raises ConnectionClosed or OSError from a dead socket
                self._fail(RealtimeSttError(Failure.CLOSED, f"sending to the realtime socket failed: {e!r}"))
                return

    @staticmethod
    def _append(connection: OpenAiSocket, x: npt.NDArray[np.float32]) -> None:
        if len(x) == 0:
            return
        audio = base64.b64encode(float_to_int16(x).astype("<i2").tobytes()).decode("ascii")
        connection.send({"type": "input_audio_buffer.append", "audio": audio})

    def _connect(self) -> OpenAiSocket | None:
        """The socket with its session set up and its reader running; None if the session was closed meanwhile."""
        connection = open_socket(self.endpoint, self.options)
        with self._lock:
            self._connection = connection
            closing = self._closing
        if closing:
            connection.close()
            return None
        set_up_session(connection, self.options)
        self._reader = threading.Thread(target=self._read, args=(connection,), name="stt-realtime-recv", daemon=True)
        self._reader.start()
        return connection

    def _read(self, connection: OpenAiSocket) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while not self._done.is_set():
                try:
                    event = connection.recv()
                except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError: not a JSON object
                    raise RealtimeSttError(Failure.PROTOCOL, f"a realtime message that is not JSON: {e}") from e
                self._handle(event)
        except ConnectionClosed as e:
            self._fail(RealtimeSttError(Failure.CLOSED, f"realtime socket closed mid-session ({e.rcvd})"))
        except RealtimeSttError as e:
            self._fail(e)
        except Exception as e:  # a dead socket may raise OSError
            self._fail(RealtimeSttError(Failure.CLOSED, f"reading the realtime socket failed: {e!r}"))

    def _handle(self, event: Event) -> None:
        kind = event.type
        if not isinstance(kind, str):
            raise RealtimeSttError(Failure.PROTOCOL, f"a realtime event without a type ({type(kind).__name__})")
        if kind == ERROR:
            error = event.error
            code = getattr(error, "code", None) or getattr(error, "type", None)
            message = getattr(error, "message", None)
            raise RealtimeSttError(Failure.ERROR_EVENT, f"realtime error event: {code}: {message}")
        if kind == FAILED:
            message = getattr(event.error, "message", None)
            raise RealtimeSttError(Failure.ERROR_EVENT, f"transcription failed: {message}")
        if not self._seen_created:
            if kind != CREATED:
                raise RealtimeSttError(Failure.PROTOCOL, f"{kind} before session.created")
            self._seen_created = True
            return
        if kind == UPDATED:
            self._seen_updated = True
            return
        fields = _FIELDS.get(kind)
        if fields is None:
            log.debug("realtime event ignored: %s", kind)
            return
        if not self._seen_updated:
            raise RealtimeSttError(Failure.PROTOCOL, f"{kind} before session.updated")
        for name, types in fields.items():
            value = getattr(event, name)
            if not isinstance(value, types):
                raise RealtimeSttError(Failure.PROTOCOL, f"{kind} with a malformed {name} ({type(value).__name__})")
        partial: str | None = None
        completed: tuple[int, str] | None = None
        try:
            with self._changed:
                if kind == COMMITTED:
                    self._ledger.acknowledge(event.item_id, event.previous_item_id)
                elif kind == DELTA:
                    self._ledger.delta(event.item_id, clean_text(event.delta or ""))
                    partial = self._ledger.partial() if event.delta else None
                else:
                    text = clean_text(event.transcript)  # text enters here: appliance.text.clean
                    completed = (self._ledger.complete(event.item_id, text), text)
                    self._changed.notify_all()
        except OutOfOrder as e:
            raise RealtimeSttError(Failure.PROTOCOL, f"{kind} out of order: {e}") from e
        if partial is not None and self.on_partial is not None:
            self.on_partial(partial)
        if completed is not None and self.on_segment is not None:
            self.on_segment(*completed)

    # --- ending -------------------------------------------------------------------------------------------

    def _fail(self, error: RealtimeSttError, *, report: bool = True) -> None:
        """Settle the session as failed (the first failure wins); ``report``: call ``on_failure`` (not for a close
        or an abort the caller asked for)."""
        with self._changed:
            if self._error is not None or self._done.is_set():
                return
            self._error = error
            self._changed.notify_all()
        log.info("realtime transcription failed (%s): %s", error.failure.value, error.message)
        self._done.set()
        if report and self.on_failure is not None:
            try:
                self.on_failure(error)
            except Exception:  # the failure stands; the caller's hook must not break the thread that found it
                log.exception("realtime transcription: the failure hook failed")

    def _shutdown(self, *, abort: bool) -> None:
        with self._lock:
            already = self._closing
            self._closing = True
            connection = self._connection
        self._unregister()
        if not already:
            closed = RealtimeSttError(Failure.CLOSED, "session closed before its transcript")
            self._fail(closed, report=False)  # wakes finish()
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                pass  # the worker sees _closing at its next item
        if connection is None:
            return
        if abort:
            connection.abort()
        if not already or abort:
            try:
                connection.close()
            except Exception:  # closing a broken socket complains; it is closed all the same
                log.debug("closing the realtime socket failed", exc_info=True)
