"""The spoken side of an answer: model text deltas in, speakable :class:`~appliance.text.piece.Piece` s out, in
sentences or in fragments. This is where the model's text is split into sentences, once: speech trusts the
pieces' ``sentence_end`` marks.

Sentence mode (the default) gives whole sentences through the splitter and the speakable filter. Fragment
mode is for a speech engine that takes text as it streams (ElevenLabs' input-streaming WebSocket): it gives
a piece as soon as a few whole words of the current sentence are safe to say, and the rest of each sentence
when it ends (``sentence_end``: the engine's cue to flush). Safe means the words cannot read
differently once the sentence is whole: the last, maybe unfinished, word is held back, and so is everything
from a markup character or a URL on, and a sentence that starts like a list item, heading, quote or table
row waits to be whole. So the fragments put together are exactly the sentences sentence mode would have
given, joined by single spaces. (A sentence that runs long is cut at a clause by the splitter; when its
words went out before the cut was decided, the mark comes with the next piece, a few words later.)

A cap on the answer's length (``max_chars``) ends it at a sentence end: once that many characters were
said, no new sentence starts. Pure: no clock, no I/O.
"""

from __future__ import annotations

import logging
import re

from appliance.text.piece import Piece
from appliance.text.sentences import SentenceSplitter
from appliance.text.speakable import SpeakableFilter, speakable

log = logging.getLogger(__name__)

#: Words a first fragment holds at least (one word alone makes a choppy start).
MIN_FRAGMENT_WORDS = 2

_RISKY = re.compile(r"[*_`~\[\]<|]|https?:|www\.", re.IGNORECASE)
_RISKY_START = re.compile(r"^\s*(?:[-*+•>#|]|\d|```|~~~)")
#: Text that may end a sentence (the splitter decides once the next character comes).
_MAY_END = re.compile(r"[.!?…][\"')\]}”’»]*\s*$")


class Answer:
    """One turn's answer text. :meth:`restart` before each request's stream (a failed attempt's
    unfinished text is dropped); :meth:`feed` each delta; :meth:`flush` where a message ends."""

    def __init__(self, *, fragments: bool = False, max_chars: int = 1500) -> None:
        self.fragments = fragments
        self.max_chars = max_chars
        self._splitter = SentenceSplitter()
        self._filter = SpeakableFilter()
        self._said = ""
        """The turn's sentences so far, joined by spaces: what sentence mode has said."""
        self._emitted = ""
        """Fragment mode: the fragments given so far, put together."""
        self.capped = False
        """The cap was reached: nothing more will be said (the caller stops reading)."""
        self._end_due = False
        """Fragment mode: a sentence ended inside text already given; the next piece carries its mark."""

    @property
    def said(self) -> str:
        return self._said

    @property
    def started(self) -> bool:
        """A sentence is complete (the first sentence's mark)."""
        return bool(self._said)

    def restart(self) -> None:
        self._splitter = SentenceSplitter()
        self._filter = SpeakableFilter()

    def feed(self, delta: str) -> list[Piece]:
        if self.capped:
            return []
        return self._out(self._splitter.feed(delta), final=False)

    def flush(self) -> list[Piece]:
        if self.capped:
            return []
        return self._out(self._splitter.flush(), final=True)

    def apology(self, text: str) -> list[Piece]:
        """A fixed sentence of this module's own (not counted against the cap)."""
        if not self.fragments:
            return [Piece.whole(text)]
        joined = (" " if self._emitted else "") + text
        self._emitted += joined
        self._said += (" " if self._said else "") + text
        self._end_due = False
        return [Piece(joined, sentence_end=True)]

    # --- internals

    def _out(self, sentences: list[str], *, final: bool) -> list[Piece]:
        out: list[Piece] = []
        ends: list[int] = []
        """Fragment mode: where each sentence completed now ends in ``_said``."""
        for sentence in sentences:
            if self.capped:
                break
            text = self._filter(sentence)
            if not text:
                continue
            self._said += (" " if self._said else "") + text
            ends.append(len(self._said))
            if not self.fragments:
                out.append(Piece.whole(text))
            if len(self._said) >= self.max_chars:
                self.capped = True
        if self.fragments:
            out.extend(self._fragments(ends, final))
        return out

    def _fragments(self, ends: list[int], final: bool) -> list[Piece]:
        out: list[Piece] = []
        for end in ends:  # one piece per sentence end, so a piece never holds two
            said = self._said[:end]
            if said.startswith(self._emitted) and len(said) > len(self._emitted):
                out.append(Piece(said[len(self._emitted) :], sentence_end=True))
                self._emitted, self._end_due = said, False
            elif self._emitted.startswith(said):
                # its words went out before the splitter decided (a long sentence cut at a clause): the next
                # piece ends it, so speech still gets it in two
                self._end_due = True
            else:  # cannot happen with the hold-back rules; if it ever does, carry on from the sentence's end
                log.warning("fragment mode: a sentence read differently than its start; resynchronising")
                self._emitted = said
        if final or self.capped:
            return out
        partial = self._partial(self._splitter.pending)
        if not partial:
            return out
        target = self._said + (" " if self._said else "") + partial
        if not target.startswith(self._emitted):
            return out
        new = target[len(self._emitted) :]
        if not new or (not self._emitted and len(new.split()) < MIN_FRAGMENT_WORDS):
            return out
        out.append(Piece(new, sentence_end=self._end_due))
        self._emitted, self._end_due = target, False
        return out

    def _partial(self, pending: str) -> str:
        """The speakable start of the unfinished sentence that will read the same once it is whole."""
        if self._filter.in_fence:
            return ""
        text = pending.lstrip()
        if not text or _RISKY_START.match(text):
            return ""
        risky = _RISKY.search(text)
        if risky is not None:
            text = text[: risky.start()]
        elif text[-1].isspace() or _MAY_END.search(text):
            # the last word may be the sentence's last: it goes in the piece that ends the sentence (the
            # ``sentence_end`` mark, which speech trusts, always comes with text)
            text = text.rstrip()
        if text and not text[-1].isspace():  # the last word may go on ("Oslo" -> "Oslofjord")
            text = _without_last_word(text)
        return speakable(text) if text.strip() else ""


def _without_last_word(text: str) -> str:
    cut = max((i for i, ch in enumerate(text) if ch.isspace()), default=-1)
    return text[: cut + 1] if cut >= 0 else ""
