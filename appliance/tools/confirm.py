"""Confirmation by voice for what cannot be undone (issue #27, part 3).

A call to a tool its MCP server marks destructive (``destructiveHint: true``), or to one named in
``assistant.confirm``, is not run when the model makes it: the runner keeps it as a :class:`Pending` call, the
model's output for it says it was NOT done, and the turn asks the user one short question built here from
the call ("Run lock set with locked false?"). The answer is listened for without the wake word, and only a
clear yes (:func:`is_yes`) runs the call; anything else, silence, a press or a restart drops it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.tools.tool import FunctionCall, Tool

#: How long a question waits for its answer; a later "yes" runs nothing.
CONFIRM_SECONDS = 30.0

#: What the model is told for a call that waits for (or did not get) the user's spoken confirmation.
NOT_CONFIRMED_OUTPUT = (
    "Not done: this action needs the user's spoken confirmation, and the user did not confirm it "
    "(they said no, said something else, or did not answer). Nothing was changed."
)
#: For a second call in the same round that also needs a confirmation: one question at a time.
ONE_AT_A_TIME_OUTPUT = "Not done: only one action that needs the user's confirmation can be asked at a time."

_YES = frozenset(
    {
        "yes",
        "yes please",
        "yeah",
        "yep",
        "yes do it",
        "do it",
        "go ahead",
        "yes go ahead",
        "sure",
        "okay",
        "ok",
        "confirm",
        "confirmed",
    }
)
_WORDS = re.compile(r"[a-z]+")


def is_yes(text: str) -> bool:
    """True only for a clear, short yes ("Yes.", "yes please", "go ahead", "okay"); anything else is a no."""
    return " ".join(_WORDS.findall(text.lower())) in _YES


@dataclass(frozen=True)
class Pending:
    """A call kept for the user's confirmation: bound, not run."""

    call: FunctionCall
    tool: Tool
    kwargs: dict[str, Any]
    question: str


def question(tool: Tool, kwargs: dict[str, Any]) -> str:
    """One short spoken question built from the call: "Run lock set with locked false?"."""
    name = tool.name
    if tool.source and name.startswith(tool.source + "_"):
        name = name[len(tool.source) + 1 :]
    words = " ".join(name.replace("-", " ").replace("_", " ").replace(".", " ").split()) or tool.name
    parts = [f"{_words(key)} {_value(value)}" for key, value in kwargs.items() if value is not None]
    args = f" with {', '.join(parts[:4])}" if parts else ""
    text = f"Run {words}{args}"
    if len(text) > 150:
        text = text[:150].rsplit(" ", 1)[0]
    return text + "?"


def _words(key: str) -> str:
    return " ".join(key.replace("_", " ").replace("-", " ").split())


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return " ".join(value.split())[:60]
    text = json.dumps(value, ensure_ascii=False)
    return text[:60]
