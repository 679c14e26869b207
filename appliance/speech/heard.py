"""What the user has heard of an answer spoken over the streaming socket, and what is left to say after a break.

The alignment that comes with each audio message names the characters of the sent text it speaks; the
sentences, the text sent and the alignment agree on the characters other than whitespace ("visible"), so what
was heard is a count of visible characters. After a break the HTTP fallback says the rest: from the word the
break came in (a word heard in part is said again whole), then the sentences after it. Pure but for
:class:`Unheard`, which reads the producer's queue of sentences.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

from appliance.cancel import CancelToken

POLL = 0.05
"""How often a waiting reader looks at the cancel token."""


def visible(text: str) -> int:
    """Characters other than whitespace: what the sentences, the text sent and the alignment agree on."""
    return sum(1 for ch in text if not ch.isspace())


def after(text: str, count: int) -> str:
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


def worth_saying(text: str) -> bool:
    """Text with a letter or a digit (a lone punctuation mark the alignment left out is not worth a request)."""
    return any(ch.isalnum() for ch in text)


def unheard_rest(sentence: str, heard: int) -> str:
    """What is left of ``sentence`` after its first ``heard`` visible characters were heard: from the word it
    broke in (a word heard in part is said again whole), or "" when nothing speakable is left."""
    cut = len(sentence) - len(after(sentence, heard))
    if 0 < cut < len(sentence) and sentence[cut - 1].isalnum() and sentence[cut].isalnum():
        while cut > 0 and not sentence[cut - 1].isspace():
            cut -= 1
    rest = sentence[cut:].strip().lstrip(",;:").strip()
    return rest if worth_saying(rest) else ""


def heard_sentences(sentences: list[str], heard: int) -> list[str]:
    """The sentences heard whole: their visible characters are within ``heard`` (or what is left of the last
    one is nothing worth saying)."""
    out: list[str] = []
    start = 0
    for sentence in sentences:
        if start >= heard:
            break
        if not unheard_rest(sentence, heard - start):
            out.append(sentence)
        start += visible(sentence)
    return out


def drain(q: queue.Queue[str | None], cancel: CancelToken) -> Iterator[str]:
    """The answer's sentences from the producer's queue, as it completes them, until None."""
    while not cancel.cancelled:
        try:
            sentence = q.get(timeout=POLL)
        except queue.Empty:
            continue
        if sentence is None:
            return
        yield sentence


class Unheard:
    """What the fallback says after a break: the sentences from the producer's queue less the ``heard``
    visible characters; the sentence they end in gives only its unheard rest (:func:`unheard_rest`)."""

    def __init__(self, q: queue.Queue[str | None], heard: int, cancel: CancelToken) -> None:
        self._queue = q
        self._heard = heard
        self._cancel = cancel
        self.part: tuple[str, str] | None = None
        """The sentence heard in part, and its rest (the first text given, when there is one)."""

    def __iter__(self) -> Iterator[str]:
        end = 0
        for sentence in drain(self._queue, self._cancel):
            start, end = end, end + visible(sentence)  # this sentence, in visible characters
            if start >= self._heard:
                yield sentence
            elif rest := unheard_rest(sentence, self._heard - start):  # else heard (or nothing worth saying)
                self.part = (sentence, rest)
                yield rest

    def whole(self, texts: list[str]) -> list[str]:
        """``texts`` (some of what was given) with the rest of the sentence heard in part as that sentence:
        heard in two parts, it was said."""
        if self.part is not None and texts[:1] == [self.part[1]]:
            return [self.part[0], *texts[1:]]
        return list(texts)
