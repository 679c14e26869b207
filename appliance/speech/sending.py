"""The sending side of streaming speech: the answer's pieces to the socket as they come, a flush at each sentence
end the assistant marked and one after the first words (:func:`~appliance.text.first_words.first_words_cut`),
and the sentences, in order, for the player's bookkeeping and the HTTP fallback (:class:`Shared`)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from appliance.cancel import CancelToken
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Sentence
from appliance.ports import Emit, SpeechResult
from appliance.speech.heard import after, worth_saying
from appliance.text.first_words import first_words_cut
from appliance.text.piece import Piece, Sentences
from appliance.tts.elevenlabs_ws import StreamInputConnection

log = logging.getLogger(__name__)


@dataclass
class Shared:
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

    def all_heard(self, sent: str) -> bool:
        """The input ended and every word ``sent`` was heard (without an alignment, the end is trusted).
        Under ``lock``."""
        return self.ended and (not self.aligned or not worth_saying(after(sent, self.heard)))


def produce(
    pieces: Iterator[Piece],
    conn: StreamInputConnection,
    answer: Shared,
    cancel: CancelToken,
    emit: Emit,
    result: SpeechResult,
    *,
    first_words: int,
    clock: Callable[[], float],
) -> None:
    """Runs on its own thread; ends with None on ``answer.queue``, and ``answer.failure`` set when the
    assistant failed (then the connection is closed, which wakes the player)."""
    sentences = Sentences()
    raw = ""
    sent = 0
    flushed = 0  # len(raw) at the last flush
    alive = True
    started = False  # a flush went out (the first words' or a sentence end's)

    def send(text: str, flush: bool) -> None:
        nonlocal alive
        if not alive:
            return
        try:
            conn.send(text, flush=flush)
            with answer.lock:
                answer.last_send = clock()
                if flush:
                    answer.flushed = conn.sent
        except ApplianceError:
            alive = False  # the player sees the broken socket and takes over; keep reading sentences

    def completed(sentence: str | None) -> None:
        if sentence is None:
            return
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
            raw += piece.text
            sentence = sentences.feed(piece)
            if sentence is None and not started and not piece.sentence_end:
                if cut := first_words_cut(raw, first_words):  # no sentence has ended: raw is all pending
                    send(raw[sent:cut] if cut > sent else " ", True)
                    sent = flushed = max(sent, cut)
                    started = True
            if len(raw) > sent:
                send(raw[sent:], False)  # the text as it comes...
                sent = len(raw)
            if sentence is not None:
                send(" ", True)  # ...and a flush where the assistant marked the sentence's end
                flushed = sent
                started = True
                completed(sentence)
        if len(raw) > flushed:
            send(" ", True)
        completed(sentences.flush())
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
        answer.queue.put(None)
        if answer.failure is not None:
            conn.close()  # wake the player: nothing more will be said
