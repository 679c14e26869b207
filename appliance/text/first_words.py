"""Where the first piece of speech may end: after the answer's first few words or its first clause, so the first
audio does not wait for the first sentence to end.

The model writes a word every few tens of milliseconds and a first sentence takes a second or more, while the
speech service answers its first request (or flush) in a few hundred milliseconds: starting on the first words
hides most of the sentence. Only the first sentence of an answer is cut like this; the rest goes sentence by
sentence, which speaks best (each request or flush is a fresh start for the voice's prosody). A cut is only
made at whitespace (never inside a word) and never past a possible sentence end (terminal punctuation or a
newline), so the first piece is always a strict start of the first sentence. Pure; no I/O.
"""

from __future__ import annotations

import re

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
