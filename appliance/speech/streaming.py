"""Speaking an answer from its first words: text streamed into ElevenLabs' input-streaming WebSocket as the
model writes it, audio played as it comes back, with the per-sentence HTTP pipeline as the fallback.

A producer thread (:mod:`.sending`) reads the answer's pieces (fragments or sentences), sends their text at once
and a flush at each sentence end the assistant marked (:class:`~appliance.text.piece.Piece`: speech never
splits text again), and one more after the answer's first few words (``tts.first_flush_words``, or its first
clause if sooner).

Why that first flush: the service buffers text until its ``chunk_length_schedule`` (50 characters at
least) fills or a flush comes. ElevenLabs documents ``flush`` as forcing the generation of the buffered text
even when it is shorter than the schedule asks, without closing the connection; text sent after it is
buffered and generated as before. So a flush mid-sentence makes the words so far a generation of their
own, and the docs warn that generating small amounts of text may lower the audio's quality: only the very
first words are flushed early (the first audio then waits for two words, not a sentence), and every later
flush is at a sentence end. The cut is at whitespace, never inside a word, and before any possible
sentence end (:func:`~appliance.text.first_words.first_words_cut`), so the sentence bookkeeping (what was
sent, against the alignment's count of what was heard, :mod:`.heard`) is unchanged.

The answer is read on a thread of its own from the start (:mod:`.prefetch`), so the model is asked at once,
whatever the socket does. The connection is the turn's one (:mod:`.opening`: opened ahead on the wake word,
or now); if it cannot be had the speech goes over HTTP at once.

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
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from appliance.audio.convert import apply_volume
from appliance.cancel import CancelToken
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Error, Event, Info, Sentence
from appliance.ports import Emit, Speaker, SpeechResult
from appliance.speech.heard import Unheard, after, heard_sentences, visible, worth_saying
from appliance.speech.opening import Opener
from appliance.speech.pipeline import SpeechPipeline
from appliance.speech.prefetch import Prefetched
from appliance.speech.sending import Shared, produce
from appliance.text.piece import Piece, Sentences
from appliance.timings import TurnTimings
from appliance.tts.elevenlabs_ws import StreamInputConnection

log = logging.getLogger(__name__)

_POLL = 0.05  # how often the player looks at the cancel token and the deadline while it waits


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
        self.opener = Opener(connect, open_timeout=open_timeout, idle_seconds=idle_seconds, clock=clock)
        self.fallback = fallback
        self.speaker = speaker
        self._timeout = timeout
        self._volume = volume
        self._clock = clock
        self._first_words = fallback.settings.first_flush_words if first_flush_words is None else first_flush_words
        self._reported_fatal = False

    def prepare(self) -> None:
        """Open the next turn's connection now (on the wake word), in the background; never raises."""
        self.opener.prepare()

    def close(self) -> None:
        self.opener.close()

    # --- ports.Speech

    def phrase(self, key: str, cancel: CancelToken | None = None) -> None:
        self.fallback.phrase(key, cancel)

    def speak(
        self,
        pieces: Iterator[Piece],
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None = None,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> SpeechResult:
        deadline = deadline or Deadline.unlimited()
        result = SpeechResult()
        answer = Shared()
        pieces = Prefetched(pieces, cancel)  # the model is asked now, whatever the socket does
        try:
            conn = self.opener.take(deadline, cancel)
        except Cancelled:
            result.interrupted = True
            return result
        except ApplianceError as exc:
            return self._whole_over_http(exc, pieces, cancel, emit, on_first_audio, result)
        remove = cancel.on_cancel(conn.close)
        producer = threading.Thread(
            target=produce,
            args=(pieces, conn, answer, cancel, emit, result),
            kwargs={"first_words": self._first_words, "clock": self._clock},
            name="tts-ws-send",
            daemon=True,
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

    # --- playing

    def _play(
        self,
        conn: StreamInputConnection,
        answer: Shared,
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
                    owed = answer.ended or worth_saying(after(answer.flushed, answer.heard))
                    quiet = self._clock() - max(waiting_since, answer.last_send)
                if failed_upstream:
                    break
                if exc.kind != ErrorKind.TIMEOUT:
                    raise
                if not owed or quiet < self._timeout:
                    continue  # the model is still writing (or a tool runs): the socket is only quiet
                with answer.lock:
                    if answer.all_heard(conn.sent):
                        break  # everything was said; only the final message is missing
                raise ApplianceError(
                    ErrorKind.TIMEOUT, f"no speech audio for {quiet:.1f} s", stage="tts", retryable=True
                ) from exc
            if piece is None:
                with answer.lock:
                    if answer.all_heard(conn.sent):
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
                    answer.heard += visible(piece.text)
        with answer.lock:
            all_heard = answer.all_heard(conn.sent)
            result.spoken = list(answer.sentences) if all_heard else heard_sentences(answer.sentences, answer.heard)

    # --- failures

    def _after_failure(
        self,
        exc: ApplianceError,
        conn: StreamInputConnection,
        answer: Shared,
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
        rest = Unheard(answer.queue, heard_chars, cancel)
        more = SpeechResult()
        if fatal:
            more.failed = list(rest)
        else:
            more = self.fallback.speak(
                (Piece.whole(text) for text in rest),
                cancel,
                _without_sentences(emit),
                on_first_audio=None if heard else on_first_audio,
            )
        with answer.lock:
            result.spoken = heard_sentences(answer.sentences, heard_chars) + rest.whole(more.spoken)
        result.failed += rest.whole(more.failed)
        if result.first_audio is None:
            result.first_audio = more.first_audio
        result.interrupted = result.interrupted or more.interrupted

    def _whole_over_http(
        self,
        exc: ApplianceError,
        pieces: Iterator[Piece],
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
        # the pieces as they are: the HTTP path cuts the first words early, then goes by the sentence ends
        return self.fallback.speak(pieces, cancel, emit, on_first_audio=on_first_audio)

    def _report(self, exc: ApplianceError, emit: Emit, fatal: bool, suffix: str) -> None:
        if fatal and self._reported_fatal:
            return
        self._reported_fatal = self._reported_fatal or fatal
        log.warning("speech WebSocket failed (%s): %s%s", exc.kind.value, exc.message, suffix)
        emit(Error(exc.kind, "tts", f"{exc.message}{suffix}"))


def _sentences_of(pieces: Iterator[Piece]) -> Iterator[str]:
    """The answer's sentences, by the pieces' marks."""
    sentences = Sentences()
    for piece in pieces:
        if (sentence := sentences.feed(piece)) is not None:
            yield sentence
    if (sentence := sentences.flush()) is not None:
        yield sentence


def _without_sentences(emit: Emit) -> Emit:
    """The fallback would announce sentences the producer already announced."""

    def forward(event: Event) -> None:
        if not isinstance(event, Sentence):
            emit(event)

    return forward
