"""The HTTP path's requests: the answer's pieces in, texts to synthesize out, the first sentence's first words
early (:func:`~appliance.text.first_words.first_words_cut`), then the rest of that sentence, then one request
per sentence. The sentences are the assistant's (:class:`~appliance.text.piece.Sentences`): this module
never splits text itself. Each :class:`Utterance` names the sentences it completes, so the speech stage
knows which sentences the user has heard. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.text.first_words import first_words_cut
from appliance.text.piece import Piece, Sentences


@dataclass(frozen=True)
class Utterance:
    """Text to synthesize in one go, and the sentences that end with it (none for the first words)."""

    text: str
    sentences: tuple[str, ...] = ()


class FirstWordsSplitter:
    """Pieces in, utterances out: the first sentence's first words (``words`` > 0, and only while the piece
    leaves its sentence unfinished), then the rest of that sentence, then one utterance per sentence."""

    def __init__(self, words: int) -> None:
        self.words = words
        self._sentences = Sentences()
        self._head = ""
        """The first sentence's text already given as the first utterance."""
        self._started = False
        """An utterance has been given (the first-words cut is only for the very first)."""

    def feed(self, piece: Piece) -> list[Utterance]:
        """A piece that ends its sentence is not cut: the whole sentence is here, so cutting gains nothing,
        and a sentence the appliance says on its own stays whole, as its cached phrase."""
        return self._utterances(self._sentences.feed(piece), final=piece.sentence_end)

    def flush(self) -> list[Utterance]:
        """The rest (the answer ended)."""
        return self._utterances(self._sentences.flush(), final=True)

    def _utterances(self, sentence: str | None, final: bool) -> list[Utterance]:
        """``final``: no first-words cut now."""
        out: list[Utterance] = []
        if sentence is not None:
            text = sentence
            if self._head:
                head = self._head.strip()
                # the head is a start of this sentence (cut before any possible sentence end)
                text = sentence[len(head) :].strip() if sentence.startswith(head) else sentence
                self._head = ""
            self._started = True
            out.append(Utterance(text, (sentence,)))
        if not self._started and not final:
            pending = self._sentences.pending
            cut = first_words_cut(pending, self.words)
            if cut is not None:
                self._head = pending[:cut]
                self._started = True
                out.append(Utterance(self._head.strip()))
        return out
