"""Speaking an answer from its first words: text streamed into ElevenLabs' input-streaming WebSocket as the
model writes it, audio played as it comes back, with the per-sentence HTTP pipeline as the fallback.

A producer thread reads the answer's pieces (fragments or sentences), cuts them into sentences with the
same splitter the HTTP path uses, sends the text at once and a flush at each sentence end, and one more
after the answer's first few words (``tts.first_flush_words``, or its first clause if sooner).

Why that first flush: the service buffers text until its ``chunk_length_schedule`` (50 characters at
least) fills or a flush comes. ElevenLabs documents ``flush`` as forcing the generation of the buffered text
even when it is shorter than the schedule asks, without closing the connection; text sent after it is
buffered and generated as before. So a flush mid-sentence makes the words so far a generation of their
own, and the docs warn that generating small amounts of text may lower the audio's quality: only the very
first words are flushed early (the first audio then waits for two words, not a sentence), and every later
flush is at a sentence end. The cut is at whitespace, never inside a word, and before any possible
sentence end (:func:`~appliance.speech.first_words.first_words_cut`), so the sentence bookkeeping (what was
sent when each sentence ended, against the alignment's count of what was heard) is unchanged; a break
after only the first words were heard cuts the first sentence there, like any break inside a sentence.

The calling thread plays the audio. The alignment that comes with each audio message says how many
characters of the sent text have been spoken, so a failure is handled by what the user has heard:

- before the first audio (refused upgrade, connect error, early stall): the whole answer goes over HTTP;
- mid-answer (close, stall, error message): the sentence being spoken is cut there, and the answer goes
  on over HTTP from the next sentence, so nothing is heard twice and only the broken part is lost;
- a refused key or exhausted quota is reported once; HTTP would be refused too, so the answer's text is
  kept in the events and nothing more is attempted this turn.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..audio.convert import apply_volume
from ..cancel import CancelToken
from ..deadline import Deadline
from ..errors import ApplianceError, Cancelled, ErrorKind
from ..events import Error, Event, Info, Sentence
from ..llm.sentences import SentenceSplitter
from ..ports import Emit, Speaker, SpeechResult
from ..timings import TurnTimings
from ..tts.elevenlabs_ws import StreamInputConnection
from .first_words import first_words_cut
from .pipeline import SpeechPipeline

log = logging.getLogger(__name__)

_POLL = 0.05  # how often the player looks at the cancel token and the deadline while it waits
_END = None
_SLACK = 8  # characters


@dataclass
class _Answer:
    """What the producer has read of the answer, shared with the player (under ``lock``)."""

    sentences: list[str] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    """For each sentence, how many characters had been sent when it ended."""
    done: bool = False
    failure: ApplianceError | None = None
    last_send: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    """Every sentence, in order, then None: what the HTTP fallback reads from."""


class StreamingSpeech:
    """ports.Speech on the input-streaming WebSocket, falling back to ``fallback`` (the HTTP pipeline)."""

    wants_fragments = True
    """The turn asks the assistant for fragments (a few words at a time), not whole sentences."""

    def __init__(
        self,
        connect: Callable[[], StreamInputConnection],
        fallback: SpeechPipeline,
        speaker: Speaker,
        *,
        timeout: float,
        open_timeout: float = 3.0,
        volume: Callable[[], float] = lambda: 1.0,
        idle_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        first_flush_words: int | None = None,
    ) -> None:
        """``connect`` makes an unopened connection; ``timeout``: seconds without audio while text waits to be
        spoken before the socket counts as stalled; ``idle_seconds``: how long a connection opened ahead
        (``prepare``) is kept for a turn that has not started; ``first_flush_words``: words before the first
        flush (0: the first sentence's end; None: the fallback's ``tts.first_flush_words``)."""
        self._connect = connect
        self.fallback = fallback
        self.speaker = speaker
        self._timeout = timeout
        self._open_timeout = open_timeout
        self._volume = volume
        self._idle = idle_seconds
        self._clock = clock
        self._first_words = fallback.settings.first_flush_words if first_flush_words is None else first_flush_words
        self._lock = threading.Lock()
        self._ready: tuple[StreamInputConnection, float] | None = None
        self._reported_fatal = False

    # --- warm-up

    def prepare(self) -> None:
        """Open the next turn's connection now (on the wake word), in the background, so the first words do
        not wait for DNS, TCP, TLS and the handshake. Never raises; a failure just means no head start."""
        threading.Thread(target=self._prepare, name="tts-ws-prepare", daemon=True).start()

    def _prepare(self) -> None:
        with self._lock:
            if self._ready is not None and self._clock() - self._ready[1] < self._idle:
                return
        conn = self._connect()
        try:
            conn.open(self._open_timeout)
        except ApplianceError as exc:
            log.info("speech WebSocket not prepared: %s", exc.message)
            return
        with self._lock:
            stale, self._ready = self._ready, (conn, self._clock())
        if stale is not None:
            stale[0].close()

    def _take(self, deadline: Deadline) -> StreamInputConnection:
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            if self._clock() - ready[1] < self._idle:
                return ready[0]
            ready[0].close()  # the service closes idle sockets: don't trust an old one
        conn = self._connect()
        conn.open(deadline.cap(self._open_timeout))
        return conn

    def close(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            ready[0].close()

    # --- ports.Speech

    def phrase(self, key: str, cancel: CancelToken | None = None) -> None:
        self.fallback.phrase(key, cancel)

    def speak(
        self,
        pieces: Iterator[str],
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None = None,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> SpeechResult:
        deadline = deadline or Deadline.unlimited()
        result = SpeechResult()
        answer = _Answer()
        try:
            conn = self._take(deadline)
        except ApplianceError as exc:
            return self._whole_over_http(exc, pieces, cancel, emit, on_first_audio, result)
        remove = cancel.on_cancel(conn.close)
        producer = threading.Thread(
            target=self._produce, args=(pieces, conn, answer, cancel, emit, result), name="tts-ws-send", daemon=True
        )
        producer.start()
        try:
            self._play(conn, answer, cancel, result, on_first_audio)
        except ApplianceError as exc:
            self._after_failure(exc, conn, answer, spoken_chars_of(exc), cancel, emit, on_first_audio, result)
        finally:
            remove()
            conn.close()
        if cancel.cancelled:
            result.interrupted = True
        elif answer.failure is not None and not result.spoken and not result.failed:
            raise answer.failure  # the assistant had nothing to say: the turn's error
        producer.join(timeout=0.05 if cancel.cancelled else 1.0)
        return result

    # --- sending

    def _produce(
        self,
        pieces: Iterator[str],
        conn: StreamInputConnection,
        answer: _Answer,
        cancel: CancelToken,
        emit: Emit,
        result: SpeechResult,
    ) -> None:
        splitter = SentenceSplitter()
        raw = ""
        sent = 0
        alive = True
        started = False  # a flush went out (the first words' or a sentence end's)

        def send(text: str, flush: bool) -> None:
            nonlocal alive
            if not alive:
                return
            try:
                conn.send(text, flush=flush)
                with answer.lock:
                    answer.last_send = self._clock()
            except ApplianceError:
                alive = False  # the player sees the broken socket and takes over; keep cutting sentences

        def completed(sentences: list[str]) -> None:
            for sentence in sentences:
                if result.first_sentence is None:
                    result.first_sentence = time.monotonic()
                emit(Sentence(sentence))
                with answer.lock:
                    answer.sentences.append(sentence)
                    answer.ends.append(len(conn.sent))
                answer.queue.put(sentence)

        try:
            for piece in pieces:
                if cancel.cancelled:
                    return
                raw += piece
                done = splitter.feed(piece)
                if done:
                    boundary = len(raw) - len(splitter.pending)
                    send(raw[sent:boundary] if boundary > sent else " ", True)
                    sent = max(sent, boundary)
                    started = True
                    completed(done)
                elif not started and _unfinished(piece) and (cut := first_words_cut(raw, self._first_words)):
                    send(raw[sent:cut] if cut > sent else " ", True)  # no sentence has ended: raw is all pending
                    sent = max(sent, cut)
                    started = True
                if len(raw) > sent:
                    send(raw[sent:], False)
                    sent = len(raw)
            rest = splitter.flush()
            send(raw[sent:] + " ", True)
            completed(rest)
            if alive:
                try:
                    conn.end()
                except ApplianceError:
                    pass  # the player reports the broken socket
        except Cancelled:
            return
        except ApplianceError as exc:
            with answer.lock:
                answer.failure = exc
        except Exception as exc:  # a bug upstream must still end the turn as an error, not silence
            log.exception("the answer stream failed")
            with answer.lock:
                answer.failure = ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="assistant")
        finally:
            with answer.lock:
                answer.done = True
            answer.queue.put(_END)
            if answer.failure is not None:
                conn.close()  # wake the player: nothing more will be said

    # --- playing

    def _play(
        self,
        conn: StreamInputConnection,
        answer: _Answer,
        cancel: CancelToken,
        result: SpeechResult,
        on_first_audio: Callable[[], None] | None,
    ) -> int:
        """Play until the final message; returns the characters spoken. Raises ApplianceError (carrying the
        characters spoken so far) when the socket fails."""
        spoken = 0
        carry = b""
        waiting_since = self._clock()
        while not cancel.cancelled:
            try:
                piece = conn.receive(_POLL)
            except ApplianceError as exc:
                if cancel.cancelled:
                    break
                with answer.lock:
                    failed_upstream = answer.failure is not None
                    # text the service owes audio for: all of it once the input ended, else past a little
                    # slack (the alignment may count a trailing space differently from what was sent)
                    pending = answer.done or len(conn.sent) - spoken > _SLACK
                    quiet = self._clock() - max(waiting_since, answer.last_send)
                if failed_upstream:
                    break
                if exc.kind == ErrorKind.TIMEOUT and (not pending or quiet < self._timeout):
                    continue  # the model is still writing (or a tool runs): the socket is only quiet
                raise _with_spoken(exc, spoken) from exc
            if piece is None:
                with answer.lock:
                    result.spoken = list(answer.sentences)
                return spoken
            waiting_since = self._clock()
            data = carry + piece.pcm
            cut = len(data) - len(data) % 2
            carry = data[cut:]
            pcm = np.frombuffer(data[:cut], dtype="<i2")
            if len(pcm):
                if result.first_audio is None:
                    result.first_audio = time.monotonic()
                    if on_first_audio is not None:
                        on_first_audio()
                if not self.speaker.play(apply_volume(pcm, self._volume()), conn.rate, cancel):
                    break
            spoken += max(0, piece.chars)
        with answer.lock:
            result.spoken = [s for s, end in zip(answer.sentences, answer.ends, strict=True) if end <= spoken]
        return spoken

    # --- failures

    def _after_failure(
        self,
        exc: ApplianceError,
        conn: StreamInputConnection,
        answer: _Answer,
        spoken: int,
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None,
        result: SpeechResult,
    ) -> None:
        fatal = exc.kind in (ErrorKind.AUTH, ErrorKind.QUOTA)
        heard = result.first_audio is not None
        with answer.lock:
            ends = list(answer.ends)
            sentences = list(answer.sentences)
        # sentences fully heard; the one being spoken when it broke is cut there (never replayed)
        full = sum(1 for end in ends if end <= spoken) if heard else 0
        resume = full + (1 if heard and full < len(ends) and spoken > (ends[full - 1] if full else 0) else 0)
        result.spoken = sentences[:full]
        if fatal or heard:
            self._report(exc, emit, fatal, "" if fatal else "; going on over HTTP")
        else:  # nothing was heard yet, so nothing is lost but the time
            log.info("speech WebSocket failed before the first audio (%s); speaking over HTTP", exc.message)
            emit(Info("tts_fallback", f"{exc.message}; speaking over HTTP"))
        if fatal:
            for sentence in _drain(answer.queue, skip=full, cancel=cancel):
                result.failed.append(sentence)
            return
        rest = _drain(answer.queue, skip=resume, cancel=cancel)
        more = self.fallback.speak(
            rest, cancel, _without_sentences(emit), on_first_audio=None if heard else on_first_audio, fragments=False
        )
        if result.first_audio is None:
            result.first_audio = more.first_audio
        result.spoken += more.spoken
        result.failed += more.failed
        result.interrupted = result.interrupted or more.interrupted

    def _whole_over_http(
        self,
        exc: ApplianceError,
        pieces: Iterator[str],
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None,
        result: SpeechResult,
    ) -> SpeechResult:
        fatal = exc.kind in (ErrorKind.AUTH, ErrorKind.QUOTA)
        if fatal:  # HTTP would be refused too: the answer stays text (in the events), reported once
            self._report(exc, emit, fatal, "")
            for sentence in _sentences_of(pieces):
                if cancel.cancelled:
                    break
                emit(Sentence(sentence))
                result.failed.append(sentence)
            return result
        else:  # nothing was lost: the whole answer goes over HTTP, only the attempt's time was
            log.info("speech WebSocket not available (%s); speaking over HTTP", exc.message)
            emit(Info("tts_fallback", f"{exc.message}; speaking over HTTP"))
        # the fragments as they are: the HTTP path cuts them itself (the first words early, then sentences)
        return self.fallback.speak(pieces, cancel, emit, on_first_audio=on_first_audio, fragments=True)

    def _report(self, exc: ApplianceError, emit: Emit, fatal: bool, suffix: str) -> None:
        if fatal and self._reported_fatal:
            return
        self._reported_fatal = self._reported_fatal or fatal
        log.warning("speech WebSocket failed (%s): %s%s", exc.kind.value, exc.message, suffix)
        emit(Error(exc.kind, "tts", f"{exc.message}{suffix}"))


def _with_spoken(exc: ApplianceError, spoken: int) -> ApplianceError:
    exc.spoken_chars = spoken  # type: ignore[attr-defined]
    return exc


def spoken_chars_of(exc: ApplianceError) -> int:
    return int(getattr(exc, "spoken_chars", 0))


def _drain(q: queue.Queue[str | None], skip: int, cancel: CancelToken) -> Iterator[str]:
    """The answer's sentences from the producer's queue, after the first ``skip``."""
    index = 0
    while not cancel.cancelled:
        try:
            sentence = q.get(timeout=_POLL)
        except queue.Empty:
            continue
        if sentence is None:
            return
        if index >= skip:
            yield sentence
        index += 1


def _sentences_of(pieces: Iterator[str]) -> Iterator[str]:
    """Fragments regrouped into sentences, for the per-sentence HTTP path."""
    splitter = SentenceSplitter()
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.flush()


def _unfinished(piece: str) -> bool:
    """A fragment whose sentence goes on: the only kind worth an early flush (plain text, such as an
    announcement, came whole, and so did a fragment that ends its sentence)."""
    return not getattr(piece, "sentence_end", True)


def _without_sentences(emit: Emit) -> Emit:
    """The fallback would announce sentences the producer already announced."""

    def forward(event: Event) -> None:
        if not isinstance(event, Sentence):
            emit(event)

    return forward
