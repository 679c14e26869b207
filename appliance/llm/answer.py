"""The spoken side of an answer: model text deltas in, speakable pieces out, in sentences or in fragments.

Sentence mode (the default) gives whole sentences through the splitter and the speakable filter. Fragment
mode is for a speech engine that takes text as it streams (ElevenLabs' input-streaming WebSocket): it gives
a :class:`Fragment` as soon as a few whole words of the current sentence are safe to say, and the rest of
the sentence when it ends (``sentence_end``: the engine's cue to flush). Safe means the words cannot read
differently once the sentence is whole: the last, maybe unfinished, word is held back, and so is everything
from a markup character or a URL on, and a sentence that starts like a list item, heading, quote or table
row waits to be whole. So the fragments put together are exactly the sentences sentence mode would have
given, joined by single spaces.

A cap on the answer's length (``max_chars``) ends it at a sentence end: once that many characters were
said, no new sentence starts. Pure: no clock, no I/O.
"""

from __future__ import annotations

import logging
import re

from appliance.text.sentences import SentenceSplitter
from appliance.text.speakable import SpeakableFilter, speakable

log = logging.getLogger(__name__)

#: Words a first fragment holds at least (one word alone makes a choppy start).
MIN_FRAGMENT_WORDS = 2

_RISKY = re.compile(r"[*_`~\[\]<|]|https?:|www\.", re.IGNORECASE)
_RISKY_START = re.compile(r"^\s*(?:[-*+•>#|]|\d|```|~~~)")


class Fragment(str):
    """Speakable text from fragment mode. Put together, the fragments of a turn are its whole answer."""

    sentence_end: bool

    def __new__(cls, text: str, sentence_end: bool = False) -> Fragment:
        made = super().__new__(cls, text)
        made.sentence_end = sentence_end
        return made


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

    def feed(self, delta: str) -> list[str]:
        if self.capped:
            return []
        return self._out(self._splitter.feed(delta), final=False)

    def flush(self) -> list[str]:
        if self.capped:
            return []
        return self._out(self._splitter.flush(), final=True)

    def apology(self, text: str) -> list[str]:
        """A fixed sentence of this module's own (not counted against the cap)."""
        if not self.fragments:
            return [text]
        joined = (" " if self._emitted else "") + text
        self._emitted += joined
        self._said += (" " if self._said else "") + text
        return [Fragment(joined, sentence_end=True)]

    # --- internals

    def _out(self, pieces: list[str], *, final: bool) -> list[str]:
        out: list[str] = []
        completed = False
        for piece in pieces:
            if self.capped:
                break
            text = self._filter(piece)
            if not text:
                continue
            self._said += (" " if self._said else "") + text
            completed = True
            if not self.fragments:
                out.append(text)
            if len(self._said) >= self.max_chars:
                self.capped = True
        if self.fragments:
            out.extend(self._fragments(completed, final))
        return out

    def _fragments(self, completed: bool, final: bool) -> list[str]:
        out: list[str] = []
        if completed:
            if self._said.startswith(self._emitted):
                rest = self._said[len(self._emitted) :]
                if rest:
                    out.append(Fragment(rest, sentence_end=True))
                    self._emitted = self._said
            elif not self._emitted.startswith(self._said):  # (ahead of it is fine: a long sentence cut at a clause)
                # Cannot happen with the hold-back rules; if it ever does, carry on from the sentence's end.
                log.warning("fragment mode: a sentence read differently than its start; resynchronising")
                self._emitted = self._said
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
        out.append(Fragment(new))
        self._emitted = target
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
        if text and not text[-1].isspace():
            cut = max((i for i, ch in enumerate(text) if ch.isspace()), default=-1)
            text = text[: cut + 1] if cut >= 0 else ""
        return speakable(text) if text.strip() else ""
