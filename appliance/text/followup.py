"""Whether an answer asks the user something back (then the appliance listens again without the wake word).

Only the very end of the answer counts: "Is it raining? No, it is sunny." asked and answered itself, while
"It is sunny. Anything else?" hands the turn back. Closing quotes, brackets, markdown emphasis, trailing
whitespace and an emphatic "?!" / "!?" are looked through.

Rhetorical questions at the end ("Isn't that amazing?") count as questions: the text cannot tell them apart,
and a wrong guess only costs a few seconds of listening that end quietly, with no cloud request, when the user
says nothing. A question quoted at the end of a statement (He asked, "why?") counts too, for the same reason.
A "?" followed by more text on the same sentence ("The what? The bridge.") does not.
"""

from __future__ import annotations

#: characters that may close an answer after its last real punctuation mark
_CLOSERS = "\"'”’»)]}*_`~ \t\r\n\u00a0"
#: "?", the full-width and Greek question marks, the interrobang and its relatives
_QUESTION_MARKS = ("?", "\uff1f", "\u037e", "\u203d", "\u2047", "\u2048", "\u2049")


def expects_reply(answer_text: str) -> bool:
    """True when the answer ends with a question ("Which city do you mean?")."""
    text = answer_text.rstrip(_CLOSERS).rstrip("!").rstrip(_CLOSERS)  # "Really?!" asks too
    return text.endswith(_QUESTION_MARKS)
