"""Transcription while the user speaks: OpenAI's realtime transcription session over a WebSocket.

The turn is opened (wake word or button) before anything is sent: ``start()`` connects in a worker thread, so the
listener's thread never waits for the network. The listener ``feed()``s 16 kHz frames into a bounded queue (never
blocking); the worker resamples them to the 24 kHz ``audio/pcm`` the API accepts and appends them. At the end of
the turn the appliance (not the server: ``turn_detection`` is off) commits, and ``finish()`` waits for that item's
transcript, which is ready a moment later because the audio is already there.

Every failure (no connection, a refused upgrade, a close or stall mid-session, an ``error`` event, events out of
order, a full queue) becomes :class:`RealtimeSttError` at once or, at the latest, when ``finish()`` runs out of
time. The caller keeps the recording in memory and falls back to the batch upload. The SDK's own reconnection is
left off: a new socket would start a new, empty audio buffer.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ..audio.convert import StreamResampler, float_to_int16, int16_to_float
from ..cancel import CancelToken
from ..deadline import Deadline
from ..errors import ApplianceError, Cancelled, ErrorKind

log = logging.getLogger(__name__)

API_RATE = 24000  # the only rate of the realtime API's audio/pcm input
MIC_RATE = 16000


class Failure(StrEnum):
    CONNECT = "connect"  # no TCP connection or no handshake in time
    REFUSED = "refused"  # the server answered the upgrade with an HTTP status (401, 403, 5xx)
    CLOSED = "closed"  # the socket closed before the transcript
    STALL = "stall"  # no transcript within the time allowed
    ERROR_EVENT = "error_event"  # an ``error`` or ``...transcription.failed`` event
    PROTOCOL = "protocol"  # events out of order (or for another item)
    OVERFLOW = "overflow"  # the worker fell behind the microphone (the socket does not take audio)
    STATE = "state"  # the caller used the session out of order


class RealtimeSttError(ApplianceError):
    """Streaming transcription failed; the recording is still in memory, so the caller uploads it instead."""

    def __init__(self, failure: Failure, message: str, *, status: int | None = None) -> None:
        kind = ErrorKind.AUTH if status in (401, 403) else ErrorKind.STT
        super().__init__(kind, message, stage="stt.realtime", retryable=True)
        self.failure = failure
        self.status = status


@dataclass(frozen=True)
class RealtimeSttOptions:
    model: str = "gpt-live-transcribe"
    language: str = ""
    noise_reduction: str = ""
    """"" (off), "near_field" or "far_field"."""
    connect_timeout: float = 3.0
    finish_timeout: float = 1.5
    """Longest wait after the commit for the final transcript (capped by the turn's deadline)."""
    queue_frames: int = 400
    """Frames (80 ms) the listener may be ahead of the socket before the session gives up: 32 s."""


def preload() -> None:
    """Import the SDK's realtime modules and the WebSocket client now (at start-up): the first import takes
    seconds on a Pi, which would otherwise land inside the first turn."""
    import openai.resources.realtime.realtime  # noqa: F401
    import openai.types.realtime  # noqa: F401
    import websockets.sync.client  # noqa: F401


_COMMIT = object()
_STOP = object()


class RealtimeSession:
    """One turn's streaming transcription. Methods may be called from different threads; none blocks except
    ``finish()``, which waits at most its deadline. ``on_partial`` runs on the reader thread with the transcript
    so far (keep it short: emit an event)."""

    def __init__(
        self,
        client: Any,
        options: RealtimeSttOptions | None = None,
        *,
        on_partial: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.client = client
        self.options = options or RealtimeSttOptions()
        self.on_partial = on_partial
        self.cancel = cancel
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.options.queue_frames)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: RealtimeSttError | None = None
        self._connection: Any = None
        self._closing = False
        self._started = False
        self._committed_sent = False
        self._seen_created = False
        self._seen_updated = False
        self._item_id: str | None = None
        self._partial = ""
        self._text: str | None = None
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
        if self._error is not None or self._closing or self._committed_sent:
            return
        try:
            self._queue.put_nowait(np.asarray(pcm16k, dtype=np.int16).copy())
        except queue.Full:
            self._fail(RealtimeSttError(Failure.OVERFLOW, "the realtime socket fell behind the microphone"))

    @property
    def failed(self) -> RealtimeSttError | None:
        """The failure so far, if any: the listener may stop feeding and plan the upload early."""
        return self._error

    @property
    def partial(self) -> str:
        return self._partial

    def finish(self, deadline: Deadline | None = None) -> str:
        """Commit what was fed and wait for its transcript. Raises RealtimeSttError (fall back to the upload)
        or Cancelled; closes the session in every case."""
        deadline = deadline or Deadline.unlimited()
        try:
            if not self._started:
                raise RealtimeSttError(Failure.STATE, "finish() before start()")
            if self._error is None and not self._committed_sent:
                self._committed_sent = True
                try:
                    self._queue.put(_COMMIT, timeout=deadline.cap(0.2))
                except queue.Full:
                    self._fail(RealtimeSttError(Failure.OVERFLOW, "no room to commit: the socket is not moving"))
            wait = deadline.cap(self.options.finish_timeout)
            if not self._done.wait(wait):
                self._fail(RealtimeSttError(Failure.STALL, f"no transcript {wait:.2f} s after the commit"))
            if self.cancel is not None and self.cancel.cancelled:
                raise Cancelled(self.cancel.reason)
            if self._error is not None:
                raise self._error
            return self._text or ""
        finally:
            self.close()

    def close(self) -> None:
        """End the session politely (a close frame); idempotent."""
        self._shutdown(abort=False)

    def abort(self) -> None:
        """Cut the socket at once (cancel): a blocked send or read returns immediately."""
        self._fail(RealtimeSttError(Failure.CLOSED, "cancelled"))
        self._shutdown(abort=True)

    # --- the worker and the reader ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._connect()
        except RealtimeSttError as e:
            self._fail(e)
            return
        resampler = StreamResampler(MIC_RATE, API_RATE)
        while True:
            item = self._queue.get()
            if item is _STOP or self._error is not None or self._closing:
                return
            try:
                if item is _COMMIT:
                    tail = resampler.process(np.zeros(0, dtype=np.float32), last=True)
                    if len(tail):
                        self._append(tail)
                    self._connection.send({"type": "input_audio_buffer.commit"})
                    continue
                pcm = cast(npt.NDArray[np.int16], item)
                self.audio_seconds += len(pcm) / MIC_RATE
                self._append(resampler.process(int16_to_float(pcm)))
            except Exception as e:  # websockets raises ConnectionClosed or OSError from a dead socket
                self._fail(RealtimeSttError(Failure.CLOSED, f"sending to the realtime socket failed: {e!r}"))
                return

    def _append(self, x: npt.NDArray[np.float32]) -> None:
        if len(x) == 0:
            return
        audio = base64.b64encode(float_to_int16(x).astype("<i2").tobytes()).decode("ascii")
        self._connection.send({"type": "input_audio_buffer.append", "audio": audio})

    def _connect(self) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        opts = self.options
        ws_options = cast(
            Any, {"open_timeout": opts.connect_timeout, "close_timeout": 0.1, "ping_interval": None, "max_queue": 64}
        )
        try:
            connection = self.client.realtime.connect(
                extra_query={"intent": "transcription"}, websocket_connection_options=ws_options
            ).enter()
        except InvalidStatus as e:
            status = e.response.status_code
            raise RealtimeSttError(Failure.REFUSED, f"realtime upgrade refused: HTTP {status}", status=status) from e
        except (InvalidHandshake, OSError, TimeoutError) as e:
            raise RealtimeSttError(Failure.CONNECT, f"cannot connect to the realtime API: {e!r}") from e
        with self._lock:
            self._connection = connection
            closing = self._closing
        if closing:
            connection.close()
            return
        transcription: dict[str, Any] = {"model": opts.model}
        if opts.language:
            transcription["language"] = opts.language
        audio_input: dict[str, Any] = {
            "format": {"type": "audio/pcm", "rate": API_RATE},
            "transcription": transcription,
            "turn_detection": None,
        }
        audio_input["noise_reduction"] = {"type": opts.noise_reduction} if opts.noise_reduction else None
        try:
            connection.session.update(session={"type": "transcription", "audio": {"input": audio_input}})
        except Exception as e:  # the socket died between the handshake and the first message
            raise RealtimeSttError(Failure.CLOSED, f"realtime socket closed at once: {e!r}") from e
        self._reader = threading.Thread(target=self._read, name="stt-realtime-recv", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while not self._done.is_set():
                self._handle(self._connection.recv())
        except ConnectionClosed as e:
            self._fail(RealtimeSttError(Failure.CLOSED, f"realtime socket closed mid-session ({e.rcvd})"))
        except RealtimeSttError as e:
            self._fail(e)
        except Exception as e:  # a dead socket may raise OSError; a bad frame, ValueError
            self._fail(RealtimeSttError(Failure.CLOSED, f"reading the realtime socket failed: {e!r}"))

    def _handle(self, event: Any) -> None:
        from openai.types.realtime import (
            ConversationItemInputAudioTranscriptionCompletedEvent as Completed,
        )
        from openai.types.realtime import (
            ConversationItemInputAudioTranscriptionDeltaEvent as Delta,
        )
        from openai.types.realtime import (
            ConversationItemInputAudioTranscriptionFailedEvent as TranscriptionFailed,
        )
        from openai.types.realtime import (
            InputAudioBufferCommittedEvent,
            RealtimeErrorEvent,
            SessionCreatedEvent,
            SessionUpdatedEvent,
        )

        kind = getattr(event, "type", "?")
        if isinstance(event, RealtimeErrorEvent):
            code = event.error.code or event.error.type
            raise RealtimeSttError(Failure.ERROR_EVENT, f"realtime error event: {code}: {event.error.message}")
        if isinstance(event, TranscriptionFailed):
            raise RealtimeSttError(Failure.ERROR_EVENT, f"transcription failed: {event.error.message}")
        if not self._seen_created:
            if not isinstance(event, SessionCreatedEvent):
                raise RealtimeSttError(Failure.PROTOCOL, f"{kind} before session.created")
            self._seen_created = True
            return
        if isinstance(event, SessionUpdatedEvent):
            self._seen_updated = True
            return
        if isinstance(event, InputAudioBufferCommittedEvent):
            if not self._seen_updated or not self._committed_sent or self._item_id is not None:
                raise RealtimeSttError(Failure.PROTOCOL, "input_audio_buffer.committed out of order")
            self._item_id = event.item_id
            return
        if isinstance(event, (Delta, Completed)):
            if self._item_id is None or event.item_id != self._item_id:
                raise RealtimeSttError(Failure.PROTOCOL, f"{kind} for item {event.item_id} before its commit")
            if isinstance(event, Delta):
                self._partial += event.delta or ""
                if self.on_partial is not None and event.delta:
                    self.on_partial(self._partial)
                return
            self._text = event.transcript
            self._done.set()
            return
        log.debug("realtime event ignored: %s", kind)

    # --- ending -------------------------------------------------------------------------------------------

    def _fail(self, error: RealtimeSttError) -> None:
        with self._lock:
            if self._error is not None or self._done.is_set():
                return
            self._error = error
        log.info("realtime transcription failed (%s): %s", error.failure.value, error.message)
        self._done.set()

    def _shutdown(self, *, abort: bool) -> None:
        with self._lock:
            already = self._closing
            self._closing = True
            connection = self._connection
        self._unregister()
        if not already:
            self._fail(RealtimeSttError(Failure.CLOSED, "session closed before its transcript"))  # wakes finish()
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                pass  # the worker sees _closing at its next item
        if connection is None:
            return
        if abort:
            ws = getattr(connection, "_connection", None)
            sock = getattr(ws, "socket", None)
            if sock is not None:
                import socket

                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone
        if not already or abort:
            try:
                connection.close()
            except Exception:  # closing a broken socket complains; it is closed all the same
                log.debug("closing the realtime socket failed", exc_info=True)


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


def transcribe_with_fallback(
    session: RealtimeSession | None,
    recording: npt.NDArray[np.int16],
    upload: Callable[[npt.NDArray[np.int16]], str],
    *,
    deadline: Deadline | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Transcript:
    """The streamed transcript, or the batch upload of ``recording`` when the stream failed (or never ran).

    Cancelled propagates: a stopped turn uploads nothing."""
    start = clock()
    error: RealtimeSttError | None = None
    if session is not None:
        try:
            text = session.finish(deadline)
            return Transcript(text.strip(), True, None, (clock() - start) * 1000.0)
        except RealtimeSttError as e:
            error = e
            log.warning("streaming transcription failed (%s), uploading the recording", e.failure.value)
    text = upload(recording)
    return Transcript(text, False, error, (clock() - start) * 1000.0)
