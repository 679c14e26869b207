"""Replies said from cached word clips, for when speech synthesis (a cloud service) cannot be reached.

The local commands' answers that vary — the time, what a timer has left, a timer of an unusual length — are
made of few words: numbers up to fifty-nine, the units, "it's", "o'clock", the timer names and a handful
more. Each is one clip in the phrase cache (synthesized once, the first time synthesis works, with the
configured voice) and an offline reply is said clip by clip: "It's 7:45 PM." is "it's · seven · forty-five ·
p.m.". It sounds clipped, but it is the right answer, with no network. Pure: text in, clip keys out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from appliance.local.offline.number_names import ONES, TEENS, TENS

#: 0..19, each a clip
ZERO_TO_NINETEEN = ["zero", *ONES, *TEENS]

#: the words of the replies besides numbers and timer names
WORDS = [
    "it's",
    "o'clock",
    "oh",
    "a.m.",
    "p.m.",
    "the",
    "timer",
    "is",
    "set",
    "for",
    "has",
    "left",
    "and",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "no",
    "timers",
    "are",
    "running",
    "there",
    "cancelled",
    "okay",
    "i've",
    "forgotten",
    "our",
    "conversation",
    "volume",
    "at",
    "percent",
]

PREFIX = "clip_"


def number_words(n: int) -> list[str]:
    """0..99 as clip words: 45 → ["forty-five"] (one clip: a number is said as one word)."""
    if n < 20:
        return [ZERO_TO_NINETEEN[n]]
    tens, unit = divmod(n, 10)
    return [TENS[tens - 2] if unit == 0 else f"{TENS[tens - 2]}-{ZERO_TO_NINETEEN[unit]}"]


def vocabulary(names: Iterable[str]) -> dict[str, str]:
    """Every clip: its key in the phrase cache and the text synthesized for it."""
    words = {*WORDS, *(w for n in range(100) for w in number_words(n)), *names}
    return {PREFIX + _slug(w): w.capitalize() if w in ("it's", "i've") else w for w in sorted(words)}


def clips(text: str, known: Iterable[str]) -> list[str] | None:
    """The clip keys that say ``text``, or None when a word has no clip (then it cannot be said offline)."""
    have = set(known)
    keys: list[str] = []
    for word in _words(text):
        key = PREFIX + _slug(word)
        if key not in have:
            return None
        keys.append(key)
    return keys or None


def _words(text: str) -> list[str]:
    text = re.sub(r"\b(\d{1,2}):(\d{2})\s*([AP])M\b", _clock, text)
    out: list[str] = []
    for token in re.findall(r"[A-Za-z.'\-]+|\d+", text):
        if token.isdigit():
            n = int(token)
            if n > 99:
                return ["<" + token + ">"]  # no clip: the reply is not said from clips
            out.extend(number_words(n))
        else:
            word = token.lower().strip(".-") if token.lower() not in ("a.m.", "p.m.") else token.lower()
            if word:
                out.append(word)
    return out


def _clock(match: re.Match[str]) -> str:
    hour, minute, half = int(match.group(1)), int(match.group(2)), match.group(3).lower()
    if minute == 0:
        said = "o'clock"
    elif minute < 10:
        said = f"oh {minute}"
    else:
        said = str(minute)
    return f"{hour} {said} {half}.m."


def _slug(word: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", word.lower()).strip("_") or "_"
