"""Real English words that sound like a word of the wake phrase, from the CMU pronouncing dictionary that
ships inside the `pocketsphinx` wheel (BSD-style licence): words whose pronunciation is one or two phone
edits from the word's ("jarvis" -> "jarvik", "harvest", "marvel"; "kitchen" -> "kitten", "mitchen").

These are the near misses people actually say, which spelling rules alone miss. A homophone (no edit: "hay"
for "hey") is never one: a synthesizer says it exactly as the phrase, so as a negative it would teach the
model to refuse its own wake word.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path


@functools.cache
def dictionary() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word -> its pronunciations (phones without stress); empty when pocketsphinx is not installed."""
    try:
        import pocketsphinx
    except ImportError:
        return {}
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    out: dict[str, list[tuple[str, ...]]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, *phones = line.split()
            word = word.split("(")[0]
            if word.isalpha() and phones:
                out.setdefault(word, []).append(tuple(phones))
    return {w: tuple(p) for w, p in out.items()}


def edits(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Phone edit distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def distance(word: str, other: str) -> int | None:
    """The fewest phone edits between any pronunciations of the two words; None if either is unknown."""
    words = dictionary()
    if word not in words or other not in words:
        return None
    return min(edits(a, b) for a in words[word] for b in words[other])


def sound_alikes(word: str, limit: int, rng: random.Random, most: int = 2) -> list[str]:
    """Up to ``limit`` dictionary words 1..``most`` phone edits from ``word`` (the closest first, chosen at
    random among equals); [] for a word the dictionary does not know."""
    out: list[str] = []
    for group in _by_distance(word, most):
        mixed = list(group)
        rng.shuffle(mixed)
        out += mixed[: limit - len(out)]
    return out


@functools.cache
def _by_distance(word: str, most: int) -> tuple[tuple[str, ...], ...]:
    """The dictionary's words 1, 2, .. ``most`` phone edits from ``word``, each group sorted (a homophone, at
    no edit, is in none)."""
    words = dictionary()
    targets = words.get(word, ())
    groups: list[list[str]] = [[] for _ in range(most)]
    for other, prons in words.items() if targets else ():
        if other == word:
            continue
        best = min(
            (edits(p, t) for p in prons for t in targets if abs(len(p) - len(t)) <= most),
            default=most + 1,
        )
        if 1 <= best <= most:
            groups[best - 1].append(other)
    return tuple(tuple(sorted(g)) for g in groups)


def homophone(text: str, phrase: str) -> bool:
    """Whether ``text`` is said exactly as ``phrase`` (word for word, by the dictionary)."""
    a, b = text.split(), phrase.split()
    return len(a) == len(b) and all(x == y or distance(x, y) == 0 for x, y in zip(a, b, strict=True))
