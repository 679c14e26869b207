"""The pieces an answer is spoken in: the assistant's text as it streams, each piece saying whether it ends a
sentence. The assistant splits the model's text into sentences once (:mod:`.sentences`); speech trusts the
marks and never splits again. Pure; no I/O.

A sentence is the text of the pieces from one sentence end to the next, put together and stripped. In
sentence mode every piece is a whole sentence (``sentence_end``); in fragment mode (for a speech engine that
takes text as it streams) a piece is a few words, and the one that ends a sentence says so. Text that comes
whole (an announcement, a local command's reply) is one sentence: :meth:`Piece.whole`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """Speakable text from the assistant. Put together, the pieces of a turn are its whole answer."""

    text: str
    sentence_end: bool = False
    """The sentence ends with this piece (its text may be empty: the mark alone)."""

    @classmethod
    def whole(cls, text: str) -> Piece:
        """Text that comes whole: a sentence of its own."""
        return cls(text, sentence_end=True)


class Sentences:
    """Pieces in, sentences out, by the pieces' marks: :meth:`feed` gives the sentence a piece ends (None
    when it ends none, or nothing worth saying), :meth:`flush` what is left when the answer ends."""

    def __init__(self) -> None:
        self._pending = ""

    @property
    def pending(self) -> str:
        """The text of the sentence under way (since the last sentence end), as it came."""
        return self._pending

    def feed(self, piece: Piece) -> str | None:
        self._pending += piece.text
        return self.flush() if piece.sentence_end else None

    def flush(self) -> str | None:
        sentence, self._pending = self._pending.strip(), ""
        return sentence or None
