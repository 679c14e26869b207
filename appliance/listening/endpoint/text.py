"""Does a transcript read as a question cut short? A second opinion for the turn model, which hears prosody only
and calls many mid-sentence pauses of flat (synthesized, tired, non-native) speech complete.

The rule is lexical and deliberately narrow: the text stops on a word that cannot end an English sentence (an
article, a preposition, a conjunction, a possessive, a filler), or on a comma, a dash or an ellipsis. "What is the
weather like in" reads unfinished; "What is the weather like" does not (it can be a whole question), so the model
keeps its say there. Pure: text in, verdict out.
"""

from __future__ import annotations

import re

#: words no English sentence ends on, whatever punctuation the transcriber put after them ("his" and "her" are
#: left out: "call her" ends a sentence)
NEVER_LAST = frozenset(
    """
    a an the my your its our their
    and or but nor because if although though unless than
    um uh er erm
    """.split()
)

#: words a sentence rarely ends on, unless it is a question ("Where are you from?", "What is it for?"); "like" is
#: left out: "what is the weather like" is a whole question
RARELY_LAST = frozenset(
    """
    of in on at to for from with by about into onto over under between through during without within as
    near after before around against among toward towards upon via per
    is are was were be been am do does did can could will would shall should may might must has have had
    when while until
    """.split()
)

_WORD = re.compile(r"[a-z']+")


def reads_unfinished(text: str) -> bool:
    """True when ``text`` (a transcript of the speech so far) stops where a sentence cannot end. A full stop
    after a preposition counts for nothing: transcribers punctuate whatever they are given."""
    stripped = text.strip()
    if not stripped:
        return False  # nothing heard: no reason to hold the turn open
    if stripped.endswith((",", "-", "\u2014", "\u2013", "...", "\u2026")):
        return True
    words = _WORD.findall(stripped.lower())
    if not words:
        return False
    last = words[-1]
    return last in NEVER_LAST or (last in RARELY_LAST and not stripped.endswith(("?", "!")))
