"""Cut a stream of text deltas into whole sentences, so speech can start after the first one.

Pure and incremental: :meth:`SentenceSplitter.feed` takes each delta and returns the sentences it
completed; :meth:`SentenceSplitter.flush` returns the rest at the end of the answer. A boundary is only
decided once the character after it is known, which is what keeps "Dr. Smith", "e.g. this", "3.14",
"the U.S. economy", "Well... maybe" and "1. eggs 2. milk" in one piece. A sentence that runs long is cut at
a clause (comma, semicolon, colon, dash) so a rambling answer still starts playing early. Newlines end a
piece too: markdown lists and headings put one item per line.
"""

from __future__ import annotations

import re

#: Words (lower case, without their period) that do not end a sentence when a capital follows.
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "mx",
        "dr",
        "prof",
        "st",
        "sr",
        "jr",
        "vs",
        "no",
        "nos",
        "approx",
        "ca",
        "cf",
        "fig",
        "figs",
        "mt",
        "ft",
        "rev",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "gov",
        "sen",
        "rep",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "vol",
        "pp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)

_TERMINALS = ".!?…"
_CLOSERS = "\"')]}”’»"
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # U.S, e.g, i.e, a.m (the last period is cut off)
_CLAUSE = re.compile(r"[,;:](?=\s)|\s[–—-](?=\s)")


class SentenceSplitter:
    """Feed text deltas, get whole sentences (stripped, never empty)."""

    def __init__(self, max_chars: int = 200, min_clause_chars: int = 40, hard_max_chars: int = 320):
        self.max_chars = max_chars
        """Past this length a sentence is cut at its last clause boundary."""
        self.min_clause_chars = min_clause_chars
        """A clause cut leaves at least this many characters in the piece (no "Yes," on its own)."""
        self.hard_max_chars = hard_max_chars
        """Past this length, with no clause boundary, the piece is cut at a space (before ``max_chars``)."""
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """Everything still buffered (the answer ended)."""
        out = self._drain(final=True)
        rest = self._buffer.strip()
        self._buffer = ""
        if rest:
            out.append(rest)
        return out

    def reset(self) -> None:
        """Drop buffered text (an attempt that failed before being spoken)."""
        self._buffer = ""

    @property
    def pending(self) -> str:
        return self._buffer

    # --- internals

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            cut = _find_boundary(self._buffer, final)
            if cut is None:
                cut = self._long_cut()
            if cut is None:
                return out
            piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if piece:
                out.append(piece)

    def _long_cut(self) -> int | None:
        text = self._buffer
        if len(text) <= self.max_chars:
            return None
        best = None
        for match in _CLAUSE.finditer(text):
            end = match.start() + 1 if text[match.start()] in ",;:" else match.end()
            if end >= self.min_clause_chars and not _in_brackets(text, end):
                best = end
        if best is not None:
            return best
        if len(text) > self.hard_max_chars:
            space = self.max_chars + 1
            while True:
                space = text.rfind(" ", self.min_clause_chars, space)
                if space <= 0 or not _in_brackets(text, space):
                    break
            return space if space > 0 else self.hard_max_chars
        return None


def _in_brackets(text: str, index: int) -> bool:
    """``text[:index]`` leaves a parenthesis or a square bracket open: a long cut there would split a
    markdown link or the web search's inline citation ("([site](url), [site](url))"), which is only
    recognised, and left unsaid, whole."""
    head = text[:index]
    return head.count("(") > head.count(")") or head.count("[") > head.count("]")


def _find_boundary(text: str, final: bool) -> int | None:
    """Index just after the first sentence end in ``text``, or None when none is certain yet."""
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            if text[:i].strip():
                return i + 1
            i += 1
            continue
        if char not in _TERMINALS:
            i += 1
            continue
        j = i
        while j < n and text[j] in _TERMINALS:
            j += 1
        while j < n and text[j] in _CLOSERS:
            j += 1
        if j == n:
            return None  # the next delta decides (final: flush takes the rest)
        if not text[j].isspace():
            i = j  # "3.14", "U.S" so far, "e.g.,"
            continue
        k = j
        while k < n and text[k] in " \t":
            k += 1
        if k == n:
            if final:
                return j
            return None
        if text[k] == "\n" or _ends_sentence(text, i, j, text[k]):
            return j
        i = j
    return None


def _ends_sentence(text: str, start: int, end: int, following: str) -> bool:
    """Decide a boundary at ``text[start:end]`` (punctuation run), knowing the next visible character."""
    run = text[start:end].rstrip(_CLOSERS)
    if following.islower():
        return False  # "e.g. this", "approx. five", "eggs 2. milk", "Well... maybe"
    if "!" in run or "?" in run:
        return True
    if run != ".":
        return False  # an ellipsis ("..." or "…") does not end a sentence before the text ends
    word_start = start
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:start].lstrip("\"'([{“‘«")
    if not word:
        return True
    if word.lower() in ABBREVIATIONS or _INITIALISM.match(word):
        return False
    if len(word) == 1 and word.isupper():
        return False  # a middle initial: "John F. Kennedy"
    if word.isdigit() and len(word) <= 3 and not text[:word_start].strip():
        return False  # a numbered-list marker at the start of a piece: "1. Eggs"
    return True
