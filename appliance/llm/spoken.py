"""What one turn of the assistant holds while it runs (its text, token, timings, budget, spoken answer), and
the short apologies the assistant may say on its own when a request fails after part of an answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from appliance.cancel import CancelToken
from appliance.errors import ErrorKind
from appliance.llm.answer import Answer
from appliance.llm.budget import Budget
from appliance.llm.search import Searches
from appliance.ports import Emit
from appliance.text.piece import Piece
from appliance.timings import TurnTimings

#: Spoken when the connection fails after part of the answer was spoken.
LOST_CONNECTION = "Sorry, I lost the connection."
#: Spoken when a request fails for another reason after part of the answer was spoken.
SOMETHING_WENT_WRONG = "Sorry, something went wrong."
#: Spoken when the model keeps calling tools past ``max_tool_rounds``.
TOO_MANY_ROUNDS = "Sorry, I couldn't finish that."
#: The sentences this module may yield on its own; the speech stage can map them to cached phrases.
APOLOGIES = {"lost_connection": LOST_CONNECTION, "error": SOMETHING_WENT_WRONG, "too_many_rounds": TOO_MANY_ROUNDS}

#: The assistant's marks on the turn's timings, by the names the assistant uses for them.
_MARKS = {
    "request_start": "llm_request_start",
    "first_delta": "llm_first_delta",
    "first_sentence": "llm_first_sentence",
    "search_start": "llm_search_start",
    "search_done": "llm_search_done",
    "done": "llm_done",
}
#: Marks that move to the latest time they are reached (the others keep the first).
_LATEST = ("done", "search_done")


def apology(kind: ErrorKind) -> str:
    if kind in (
        ErrorKind.CONNECTION,
        ErrorKind.TIMEOUT,
        ErrorKind.SERVER,
        ErrorKind.RATE_LIMITED,
        ErrorKind.RESPONSE_FAILED,
    ):
        return LOST_CONNECTION
    return SOMETHING_WENT_WRONG


@dataclass
class TurnState:
    text: str
    cancel: CancelToken
    emit: Emit
    timings: TurnTimings | None
    budget: Budget
    answer: Answer
    yielded: bool = False
    filler: Callable[[CancelToken], None] | None = None
    """Plays the turn's filler phrase (a web search runs and nothing was said); None: no filler."""
    searches: Searches = field(default_factory=lambda: Searches(0.0))

    def mark(self, name: str) -> None:
        if self.timings is None:
            return
        if name in _LATEST:
            self.timings.set(_MARKS[name], time.monotonic())
        else:
            self.timings.mark(_MARKS[name], time.monotonic())

    def say(self, pieces: list[Piece]) -> Generator[Piece, None, bool]:
        """Yield ``pieces``; the budget's clock stops while the consumer holds one. True if any was."""
        for piece in pieces:
            if not self.answer.fragments or piece.sentence_end:
                self.mark("first_sentence")
            if self.timings is not None and self.answer.fragments:
                self.timings.mark("llm_first_fragment")
            self.yielded = True
            self.budget.hold()
            try:
                yield piece
            finally:
                self.budget.release()
        return bool(pieces)
