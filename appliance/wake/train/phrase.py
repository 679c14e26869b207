"""The wake phrase: checked, and turned into the texts the recipe speaks.

Adversarial negatives are made from the phrase's spelling, since the synthesizers read spelling: every
word's onset consonants and first vowel swapped for others ("jarvis" -> "travis", "jervis"), its last
syllable cut or changed ("jar", "jarvik"), the phrase's parts alone ("hey", "jarvis"), the first word
replaced by other greetings, and the phrase inside longer words and sentences ("they jarvisson"); and from
its sounds: real words one or two phones away (soundalike.py: "hey harvest", "hey kitten"). Nothing said
exactly as the phrase ("hay jarvis") is ever a negative.
"""

from __future__ import annotations

import random
import re
import unicodedata

import appliance.wake.train.soundalike as soundalike

MAX_WORDS = 6
MAX_SYLLABLES = 10

ONSETS = (
    "b", "c", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "sh", "t", "th", "v", "w", "y", "z",
    "bl", "br", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sl", "sm", "sn", "sp", "st", "str", "sw", "tr",
)  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u", "ai", "ee", "oo", "ou", "ay", "ea", "ie", "oa")
CODAS = ("k", "t", "n", "d", "m", "s", "x", "ck", "ll", "nd", "st", "rt", "rk")
GREETINGS = ("hi", "hello", "okay", "say", "they", "pay", "a", "the", "oh", "yo", "heya", "high")
#: everyday words that follow a greeting: the second-word context of "hey <word>" (chosen to be generic,
#: not from the benchmark's near-miss list)
FILLERS = (
    "there", "listen", "kitchen", "window", "garden", "buddy", "water", "summer", "doctor", "money",
    "lemon", "pepper", "rabbit", "tiger", "baker", "pillow", "yellow", "river", "table", "paper",
    "honey", "morning", "music", "robot", "pizza", "office", "jelly", "ginger", "harbor", "orange",
)  # fmt: skip
CONTEXT = (
    "I said {x} yesterday.",
    "{x} is what they called it.",
    "Did you hear {x} on the radio?",
    "The sign said {x} in big letters.",
    "We went past {x} street.",
)


class PhraseError(ValueError):
    """The phrase cannot be trained: the message says why and what to do."""


def normalize(phrase: str) -> str:
    """Lower case words separated by single spaces, punctuation dropped; raises PhraseError."""
    if not phrase or not phrase.strip():
        raise PhraseError('the wake phrase is empty: give two to six English words, e.g. "hey kitchen"')
    text = unicodedata.normalize("NFKD", phrase)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))  # café -> cafe
    if re.search(r"\d", text):
        raise PhraseError(f'{phrase!r} has digits: write numbers as words ("hey number nine")')
    foreign = sorted({ch for ch in text if ch.isalpha() and not ("a" <= ch.lower() <= "z")})
    if foreign:
        raise PhraseError(
            f"{phrase!r} is not in English letters ({''.join(foreign[:5])}): the synthesizers the recipe trains "
            "with speak English only; write the phrase in Latin letters as it is pronounced in English"
        )
    text = re.sub(r"[^A-Za-z' -]+", " ", text).replace("-", " ")
    words = [w.strip("'") for w in text.lower().split()]
    words = [w for w in words if w]
    if not words:
        raise PhraseError(f'{phrase!r} has no words: give two to six English words, e.g. "hey kitchen"')
    if len(words) > MAX_WORDS:
        raise PhraseError(
            f"{phrase!r} has {len(words)} words: a wake phrase has at most {MAX_WORDS} (the model hears about 2 s "
            "of speech); choose a shorter one"
        )
    total = sum(syllables(w) for w in words)
    if total < 2:
        raise PhraseError(
            f"{phrase!r} has one syllable: one syllable is said in everyday speech all the time and cannot be told "
            'apart reliably; use two to six words, two or more syllables, e.g. "hey kitchen"'
        )
    if total > MAX_SYLLABLES:
        raise PhraseError(f"{phrase!r} has about {total} syllables: at most {MAX_SYLLABLES} fit the model's window")
    return " ".join(words)


def syllables(word: str) -> int:
    """A spelling-based syllable count (vowel groups, a silent final e): good enough to refuse "hey"."""
    w = word.lower().strip("'")
    groups = re.findall(r"[aeiouy]+", w)
    n = len(groups)
    if n > 1 and w.endswith("e") and not w.endswith(("le", "ee", "ye")):
        n -= 1
    return max(1, n) if w else 0


def slug(phrase: str) -> str:
    """A file and model name for the phrase: "hey jarvis" -> "hey_jarvis"."""
    return re.sub(r"[^a-z0-9]+", "_", normalize(phrase)).strip("_")


def _split(word: str) -> tuple[str, str, str]:
    """(onset consonants, first vowel group, rest)."""
    m = re.match(r"([^aeiouy]*)([aeiouy]+)(.*)", word)
    if not m:
        return word, "", ""
    return m.group(1), m.group(2), m.group(3)


def spoken_forms(phrase: str) -> list[str]:
    """How the phrase is written for the synthesizers: with and without commas and a closing mark."""
    words = normalize(phrase).split()
    base = " ".join(words)
    forms = [base, base.capitalize() + "!", base.capitalize() + ".", base + "?"]
    if len(words) > 1:
        forms.append(words[0].capitalize() + ", " + " ".join(words[1:]) + ".")
    return forms


def neighbours(phrase: str, count: int, seed: int) -> list[str]:
    """Up to ``count`` phrases that sound like ``phrase`` but are not it (deterministic for a seed)."""
    rng = random.Random(seed)
    words = normalize(phrase).split()
    out: dict[str, None] = {}
    first: list[str] = []  # the parts alone and the phrase without one of its words: always in
    for i in range(len(words)):
        for part in ([words[i]], words[:i] + words[i + 1 :]):
            text = " ".join(part)
            if text and text not in first and re.search(r"[aeiouy]", text):
                first.append(text)

    whole = " ".join(words)

    def add(ws: list[str]) -> None:
        text = " ".join(w for w in ws if w)
        if text and text != whole and re.search(r"[aeiouy]", text) and not soundalike.homophone(text, whole):
            out.setdefault(text, None)

    for i, word in enumerate(words):
        onset, vowel, rest = _split(word)
        for new in rng.sample(ONSETS, 18):
            if new != onset:
                add(words[:i] + [new + vowel + rest] + words[i + 1 :])
        for new in rng.sample(VOWELS, 8):
            if new != vowel:
                add(words[:i] + [onset + new + rest] + words[i + 1 :])
        if len(rest) >= 2:  # the last syllable cut or swapped
            add(words[:i] + [onset + vowel + rest[: len(rest) // 2]] + words[i + 1 :])
            for coda in rng.sample(CODAS, 3):
                add(words[:i] + [onset + vowel + rest[: len(rest) // 2] + coda] + words[i + 1 :])
        add(words[:i] + [word + rng.choice(("son", "ton", "ly", "er", "es", "ing"))] + words[i + 1 :])
        add(words[:i] + [rng.choice(("a", "un", "re", "be")) + word] + words[i + 1 :])
    for i, word in enumerate(words):  # real words that sound alike, more for the longer words
        for alike in soundalike.sound_alikes(word, 10 if syllables(word) > 1 else 3, rng):
            add(words[:i] + [alike] + words[i + 1 :])
    # other greetings before the rest, the first word before everyday words
    for greeting in rng.sample(GREETINGS, 5):
        if greeting != words[0]:
            add([greeting, *words[1:]])
    for filler in rng.sample(FILLERS, 12):
        add([words[0], filler])
    ordered = [t for t in out if t not in first]
    rng.shuffle(ordered)
    picked = ordered[: max(0, count - len(first))]
    # a few of them inside sentences
    for i, text in enumerate(picked[: max(1, count // 8)]):
        picked[i] = rng.choice(CONTEXT).format(x=text)
    return (first + picked)[:count]
