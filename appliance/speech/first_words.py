"""Where the first piece of speech may end: after the answer's first few words or its first clause, so the first
audio does not wait for the first sentence to end.

The model writes a word every few tens of milliseconds and a first sentence takes a second or more, while the
speech service answers its first request in a few hundred milliseconds: starting on the first words hides
most of the sentence. Only the first sentence of an answer is cut like this; the rest goes sentence by
sentence, which speaks best (each request or flush is a fresh start for the voice's prosody).

Pure and incremental, like the sentence splitter it wraps: :class:`FirstWordsSplitter` takes the text
fragments as they come and gives :class:`Piece` s to synthesize, each naming the sentences it completes, so
the speech stage knows which sentences the user has heard. A cut is only made at whitespace (never inside a
word) and never past a possible sentence end (terminal punctuation or a newline the splitter has not
decided yet), so the first piece is always a strict start of the first sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.text.sentences import SentenceSplitter

_CLAUSE = re.compile(r"[,;:](?=\s)|\s[–—-](?=\s)")
_UNDECIDED = re.compile(r"[.!?…\n]")


def first_words_cut(text: str, words: int) -> int | None:
    """Index just past the whitespace after the first ``words`` whole words of ``text``, or after its first
    clause mark (``,`` ``;`` ``:`` or a spaced dash, then whitespace) when that comes sooner; None when
    neither has arrived yet or ``words`` is 0 (off). A word is whole once whitespace follows it."""
    if words <= 0:
        return None
    stop = _UNDECIDED.search(text)
    head = text[: stop.start()] if stop is not None else text
    clause = _CLAUSE.search(head)
    clause_cut = None
    if clause is not None:  # the lookahead makes sure whitespace follows the mark
        clause_cut = clause.end()
        while clause_cut < len(head) and head[clause_cut].isspace():
            clause_cut += 1
    count = 0
    word_cut = None
    for match in re.finditer(r"\S+(\s+)", head):
        count += 1
        if count == words:
            word_cut = match.end()
            break
    cuts = [c for c in (clause_cut, word_cut) if c is not None and head[:c].strip()]
    return min(cuts) if cuts else None


@dataclass(frozen=True)
class Piece:
    """Text to synthesize in one go, and the sentences that end with it (none for the first words)."""

    text: str
    sentences: tuple[str, ...] = ()


class FirstWordsSplitter:
    """Fragments in (the answer's text as it streams, put together exactly), pieces out: the first
    sentence's first words (``words`` > 0), then the rest of that sentence, then one piece per sentence."""

    def __init__(self, words: int) -> None:
        self.words = words
        self._splitter = SentenceSplitter()
        self._head = ""
        """The raw text of the first sentence already given as the first piece."""
        self._started = False
        """A piece has been given (the first-words cut is only for the very first)."""

    def feed(self, fragment: str, sentence_end: bool = False) -> list[Piece]:
        """``sentence_end``: the fragment ends a sentence (the assistant knows it before the splitter does),
        so the whole sentence is here and is not cut: cutting gains nothing then, and a sentence the
        appliance says on its own stays whole, as its cached phrase."""
        return self._pieces(self._splitter.feed(fragment), final=sentence_end)

    def flush(self) -> list[Piece]:
        """The rest (the answer ended)."""
        return self._pieces(self._splitter.flush(), final=True)

    def _pieces(self, sentences: list[str], final: bool) -> list[Piece]:
        """``final``: no first-words cut now."""
        out: list[Piece] = []
        for sentence in sentences:
            text = sentence
            if self._head:
                head = self._head.strip()
                # the head is a start of this sentence (cut before any possible sentence end)
                text = sentence[len(head) :].strip() if sentence.startswith(head) else sentence
                self._head = ""
            self._started = True
            out.append(Piece(text, (sentence,)))
        if not self._started and not final:
            pending = self._splitter.pending
            cut = first_words_cut(pending, self.words)
            if cut is not None:
                self._head = pending[:cut]
                self._started = True
                out.append(Piece(self._head.strip()))
        return [p for p in out if p.text or p.sentences]
