"""Whether an answer asks the user something back (then the appliance listens again without the wake word)."""

from __future__ import annotations

_CLOSERS = "\"'”’)]*_ \t\n"


def expects_reply(answer_text: str) -> bool:
    """True when the answer's last sentence is a question ("Which city do you mean?")."""
    text = answer_text.rstrip(_CLOSERS)
    return text.endswith(("?", "？", "¿"))
