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
sent, against the alignment's count of what was heard) is unchanged.

The answer is read on a thread of its own from the start, so the model is asked at once, whatever the
socket does. The connection is the one opened ahead (``prepare``, on the wake word) if it is open, or still
opening (then it is waited for once, within its open timeout), else one opened now; if that fails the speech
goes over HTTP at once. A turn never opens a second socket.

The calling thread plays the audio. The alignment that comes with each audio message names the characters
of the sent text it speaks, so the player knows exactly which text has been heard (counted in characters
other than whitespace, which the sentences, the text sent and the alignment agree on). A failure is handled
by what the user has heard:

- before the first audio (refused upgrade, connect error, early stall): the whole answer goes over HTTP;
- mid-answer (close, stall, error message, a malformed message, or a final message before all the text was
  spoken): what was not heard goes over HTTP, once: the rest of the sentence being spoken (from the word it
  broke in, said again whole), then the sentences after it. Nothing is lost and nothing is heard twice; the
  result names each sentence heard, in one part or two;
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

from appliance.audio.convert import apply_volume
from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Error, Event, Info, Sentence
from appliance.ports import Emit, Speaker, SpeechResult
from appliance.speech.first_words import first_words_cut
from appliance.speech.pipeline import SpeechPipeline
from appliance.text.sentences import SentenceSplitter
from appliance.timings import TurnTimings
from appliance.tts.elevenlabs_ws import StreamInputConnection

log = logging.getLogger(__name__)

_POLL = 0.05  # how often the player looks at the cancel token and the deadline while it waits
_END = None
_GRACE = 0.25  # seconds past its open timeout that a connection still opening is waited for


@dataclass
class _Answer:
    """What the producer has read and sent of the answer, and what the player has heard, shared between
    them (under ``lock``). Text is counted in visible characters (not whitespace)."""

    sentences: list[str] = field(default_factory=list)
    ended: bool = False
    """The end of input went out: the service owes the audio of everything sent."""
    failure: ApplianceError | None = None
    last_send: float = 0.0
    flushed: str = ""
    """The text sent up to the last flush: the service owes its audio."""
    heard: int = 0
    """Visible characters whose audio has come and been played (from the alignment)."""
    aligned: bool = False
    """Some audio named its text (an alignment): ``heard`` counts what was heard. A message without one
    counts nothing (audio with no new text); a service that sends none at all is trusted on its end."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    """Every sentence, in order, then None: what the HTTP fallback reads from."""


@dataclass
class _Opening:
    """A connection being opened ahead (``prepare``); a turn that starts meanwhile takes it and waits."""

    conn: StreamInputConnection
    started: float
    """time.monotonic() when it began to open."""
    done: threading.Event = field(default_factory=threading.Event)
    error: ApplianceError | None = None
    taken: bool = False
    """A turn waits for it: it is the turn's, not the next one's."""


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
        self._opening: _Opening | None = None
        self._refused: tuple[ApplianceError, float] | None = None
        """Why the connection opened ahead failed, and when: the turn it was for goes over HTTP at once."""
        self._reported_fatal = False

    # --- warm-up

    def prepare(self) -> None:
        """Open the next turn's connection now (on the wake word), in the background, so the first words do
        not wait for DNS, TCP, TLS and the handshake. Never raises; a failure just means no head start."""
        threading.Thread(target=self._prepare, name="tts-ws-prepare", daemon=True).start()

    def _prepare(self) -> None:
        with self._lock:
            if self._opening is not None:
                return  # one is under way
            if self._ready is not None and self._clock() - self._ready[1] < self._idle:
                return
            opening = self._opening = _Opening(self._connect(), time.monotonic())
        try:
            opening.conn.open(self._open_timeout)
        except ApplianceError as exc:
            log.info("speech WebSocket not prepared: %s", exc.message)
            opening.error = exc
        stale = None
        with self._lock:
            if self._opening is opening:
                self._opening = None
            if not opening.taken:
                if opening.error is None:
                    stale, self._ready, self._refused = self._ready, (opening.conn, self._clock()), None
                else:
                    self._refused = (opening.error, self._clock())
        opening.done.set()
        if stale is not None:
            stale[0].close()

    def _take(self, deadline: Deadline, cancel: CancelToken) -> StreamInputConnection:
        """The turn's one connection: the one opened ahead, the one still opening (waited for once, within
        its bound), or a new one when none was opened for it. Raises ApplianceError when it cannot be had (then
        HTTP), or Cancelled."""
        with self._lock:
            ready, self._ready = self._ready, None
            refused, self._refused = self._refused, None
            fresh = ready is not None and self._clock() - ready[1] < self._idle
            opening = None if fresh else self._opening
            if opening is not None:
                self._opening, opening.taken = None, True
        if refused is not None and not fresh and opening is None and self._clock() - refused[1] < self._idle:
            raise refused[0]  # this turn's socket failed to open (on the wake word): not a second one
        if ready is not None:
            if fresh:
                return ready[0]
            ready[0].close()  # the service closes idle sockets: don't trust an old one
        if opening is not None:
            return self._await(opening, deadline, cancel)
        conn = self._connect()
        conn.open(deadline.cap(self._open_timeout))
        return conn

    def _await(self, opening: _Opening, deadline: Deadline, cancel: CancelToken) -> StreamInputConnection:
        bound = deadline.cap(opening.started + self._open_timeout + _GRACE - time.monotonic(), floor=0.0)
        until = time.monotonic() + bound
        while not opening.done.wait(_POLL):
            if cancel.cancelled:
                opening.conn.close()
                raise Cancelled(cancel.reason)
            if time.monotonic() >= until:
                opening.conn.close()  # a handshake past its bound will not be waited for again
                raise ApplianceError(
                    ErrorKind.TIMEOUT,
                    f"speech WebSocket did not open within {self._open_timeout:.1f} s",
                    stage="tts",
                    retryable=True,
                )
        if opening.error is not None:
            raise opening.error
        return opening.conn

    def close(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, None
            opening, self._opening = self._opening, None
        if ready is not None:
            ready[0].close()
        if opening is not None:
            opening.conn.close()

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
        pieces = _Prefetched(pieces, cancel)  # the model is asked now, whatever the socket does
        try:
            conn = self._take(deadline, cancel)
        except Cancelled:
            result.interrupted = True
            return result
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
            self._after_failure(exc, conn, answer, cancel, emit, on_first_audio, result)
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
                    if flush:
                        answer.flushed = conn.sent
            except ApplianceError:
                alive = False  # the player sees the broken socket and takes over; keep cutting sentences

        def completed(sentences: list[str]) -> None:
            for sentence in sentences:
                if result.first_sentence is None:
                    result.first_sentence = time.monotonic()
                emit(Sentence(sentence))
                with answer.lock:
                    answer.sentences.append(sentence)
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
                with answer.lock:
                    answer.ended = True
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
    ) -> None:
        """Play until the final message, counting in ``answer.heard`` the text whose audio was played.
        Raises ApplianceError when the socket fails, or ends before all the text was spoken."""
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
                    # words the service owes audio for: all flushed, all sent once the input ended
                    owed = answer.ended or _speakable(_after(answer.flushed, answer.heard))
                    quiet = self._clock() - max(waiting_since, answer.last_send)
                if failed_upstream:
                    break
                if exc.kind != ErrorKind.TIMEOUT:
                    raise
                if not owed or quiet < self._timeout:
                    continue  # the model is still writing (or a tool runs): the socket is only quiet
                with answer.lock:
                    if _all_heard(conn.sent, answer):
                        break  # everything was said; only the final message is missing
                raise ApplianceError(
                    ErrorKind.TIMEOUT, f"no speech audio for {quiet:.1f} s", stage="tts", retryable=True
                ) from exc
            if piece is None:
                with answer.lock:
                    if _all_heard(conn.sent, answer):
                        result.spoken = list(answer.sentences)
                        return
                raise ApplianceError(
                    ErrorKind.TTS, "speech WebSocket ended before all the text was spoken", stage="tts"
                )
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
            if piece.text is not None:
                with answer.lock:
                    answer.aligned = True
                    answer.heard += _visible(piece.text)
        with answer.lock:
            all_heard = _all_heard(conn.sent, answer)
            result.spoken = list(answer.sentences) if all_heard else _heard_sentences(answer.sentences, answer.heard)

    # --- failures

    def _after_failure(
        self,
        exc: ApplianceError,
        conn: StreamInputConnection,
        answer: _Answer,
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None,
        result: SpeechResult,
    ) -> None:
        conn.close()  # nothing more goes to this socket; the producer still cuts sentences for the fallback
        fatal = exc.kind in (ErrorKind.AUTH, ErrorKind.QUOTA)
        heard = result.first_audio is not None
        with answer.lock:
            heard_chars = answer.heard
        if fatal or heard:
            self._report(exc, emit, fatal, "" if fatal else "; going on over HTTP")
        else:  # nothing was heard yet, so nothing is lost but the time
            log.info("speech WebSocket failed before the first audio (%s); speaking over HTTP", exc.message)
            emit(Info("tts_fallback", f"{exc.message}; speaking over HTTP"))
        rest = _Unheard(answer.queue, heard_chars, cancel)
        more = SpeechResult()
        if fatal:
            more.failed = list(rest)
        else:
            more = self.fallback.speak(
                iter(rest),
                cancel,
                _without_sentences(emit),
                on_first_audio=None if heard else on_first_audio,
                fragments=False,
            )
        with answer.lock:
            result.spoken = _heard_sentences(answer.sentences, heard_chars) + rest.whole(more.spoken)
        result.failed += rest.whole(more.failed)
        if result.first_audio is None:
            result.first_audio = more.first_audio
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
            try:
                for sentence in _sentences_of(pieces):
                    if cancel.cancelled:
                        break
                    emit(Sentence(sentence))
                    result.failed.append(sentence)
            except Cancelled:
                result.interrupted = True
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


def _drain(q: queue.Queue[str | None], cancel: CancelToken) -> Iterator[str]:
    """The answer's sentences from the producer's queue, as it cuts them."""
    while not cancel.cancelled:
        try:
            sentence = q.get(timeout=_POLL)
        except queue.Empty:
            continue
        if sentence is None:
            return
        yield sentence


class _Unheard:
    """What the fallback says after a break: the sentences from the producer's queue less the ``heard``
    visible characters; the sentence they end in gives only its unheard rest (:func:`_unheard_rest`)."""

    def __init__(self, q: queue.Queue[str | None], heard: int, cancel: CancelToken) -> None:
        self._queue = q
        self._heard = heard
        self._cancel = cancel
        self.part: tuple[str, str] | None = None
        """The sentence heard in part, and its rest (the first text given, when there is one)."""

    def __iter__(self) -> Iterator[str]:
        end = 0
        for sentence in _drain(self._queue, self._cancel):
            start, end = end, end + _visible(sentence)  # this sentence, in visible characters
            if start >= self._heard:
                yield sentence
            elif rest := _unheard_rest(sentence, self._heard - start):  # else heard (or nothing worth saying)
                self.part = (sentence, rest)
                yield rest

    def whole(self, texts: list[str]) -> list[str]:
        """``texts`` (some of what was given) with the rest of the sentence heard in part as that sentence:
        heard in two parts, it was said."""
        if self.part is not None and texts[:1] == [self.part[1]]:
            return [self.part[0], *texts[1:]]
        return list(texts)


def _all_heard(sent: str, answer: _Answer) -> bool:
    """The input ended and every word ``sent`` was heard (without an alignment, the end is trusted).
    Under ``answer.lock``."""
    return answer.ended and (not answer.aligned or not _speakable(_after(sent, answer.heard)))


def _visible(text: str) -> int:
    """Characters other than whitespace: what the sentences, the text sent and the alignment agree on."""
    return sum(1 for ch in text if not ch.isspace())


def _after(text: str, count: int) -> str:
    """``text`` after its first ``count`` visible characters."""
    if count <= 0:
        return text
    seen = 0
    for index, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == count:
                return text[index + 1 :]
    return ""


def _speakable(text: str) -> bool:
    """Text with a letter or a digit (a lone punctuation mark the alignment left out is not worth a request)."""
    return any(ch.isalnum() for ch in text)


def _unheard_rest(sentence: str, heard: int) -> str:
    """What is left of ``sentence`` after its first ``heard`` visible characters were heard: from the word it
    broke in (a word heard in part is said again whole), or "" when nothing speakable is left."""
    cut = len(sentence) - len(_after(sentence, heard))
    if 0 < cut < len(sentence) and sentence[cut - 1].isalnum() and sentence[cut].isalnum():
        while cut > 0 and not sentence[cut - 1].isspace():
            cut -= 1
    rest = sentence[cut:].strip().lstrip(",;:").strip()
    return rest if _speakable(rest) else ""


def _heard_sentences(sentences: list[str], heard: int) -> list[str]:
    """The sentences heard whole: their visible characters are within ``heard`` (or what is left of the last
    one is nothing worth saying)."""
    out: list[str] = []
    start = 0
    for sentence in sentences:
        if start >= heard:
            break
        if not _unheard_rest(sentence, heard - start):
            out.append(sentence)
        start += _visible(sentence)
    return out


class _Prefetched:
    """The assistant's pieces, read on a thread of their own from the start (so the model is asked at once,
    whatever the socket does) and given out in order to the path that speaks them. Re-raises what the
    assistant raised; raises Cancelled when the turn is cancelled while it waits."""

    def __init__(self, source: Iterator[str], cancel: CancelToken) -> None:
        self._queue: queue.Queue[str | _Raised | None] = queue.Queue()
        self._cancel = cancel
        self._ended = False
        threading.Thread(target=self._read, args=(source,), name="tts-answer", daemon=True).start()

    def _read(self, source: Iterator[str]) -> None:
        try:
            for piece in source:
                self._queue.put(piece)
                if self._cancel.cancelled:
                    return
        except Exception as exc:  # the reader of the pieces raises it as its own
            self._queue.put(_Raised(exc))
        finally:
            self._queue.put(None)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while not self._ended:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._cancel.cancelled:
                    raise Cancelled(self._cancel.reason) from None
                continue
            if item is None:
                self._ended = True
            elif isinstance(item, _Raised):
                raise item.error
            else:
                return item
        raise StopIteration


@dataclass
class _Raised:
    error: Exception


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
