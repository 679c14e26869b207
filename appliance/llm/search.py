"""The hosted web search: the tool the request offers, and what one turn knows of its searches.

OpenAI runs the search itself (``{"type": "web_search"}`` among the tools): the stream carries a
``web_search_call`` item and its progress events before the message, and nothing is owed for it in the next
request. The appliance's approximate location goes with it so "the weather" means the weather here. While a
search runs and nothing has been said, a short filler phrase says something is happening (:class:`Searches`
decides when; the turn plays it). Pure: no I/O; times are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.config.settings import AssistantSettings

#: The tool's type on the Responses API.
WEB_SEARCH = "web_search"


def web_search_tool(settings: AssistantSettings) -> dict[str, Any] | None:
    """The hosted web search tool for the request, None when it is off. Empty location fields are not sent;
    the location's type always is, so a device with no location set is not taken for one in the United
    States (the API's fallback when ``user_location`` is missing). Not offered with reasoning effort "minimal":
    the API refuses the tool with it (400 "The following tools cannot be used with reasoning.effort 'minimal':
    web_search.")."""
    if not settings.web_search or settings.reasoning_effort == "minimal":
        return None
    fields = (
        ("city", settings.location_city.strip()),
        ("region", settings.location_region.strip()),
        ("country", settings.location_country.strip().upper()),
        ("timezone", settings.location_timezone.strip()),
    )
    location: dict[str, str] = {"type": "approximate"}
    location.update((key, value) for key, value in fields if value)
    return {"type": WEB_SEARCH, "user_location": location}


@dataclass
class Searches:
    """One turn's web searches (over all its requests and retries) and its filler."""

    filler_after: float
    """Seconds after the question when the filler is due (0: never)."""
    started: dict[str, float] = field(default_factory=dict)
    """Each search call's id and when it started."""
    text: bool = False
    """The answer's text has begun (no filler after that)."""
    filler_played: bool = False

    def start(self, call_id: str, now: float) -> bool:
        """A search call started (or was seen again); True the first time."""
        if call_id in self.started:
            return False
        self.started[call_id] = now
        return True

    def finish(self, call_id: str, now: float) -> float | None:
        """The search's duration in ms (None when its start was not seen)."""
        began = self.started.get(call_id)
        return None if began is None else round((now - began) * 1000, 1)

    @property
    def waiting(self) -> bool:
        """A search ran in this turn and no text has come yet: the turn is waiting on the search."""
        return bool(self.started) and not self.text

    def filler_due_in(self, elapsed: float, said: bool) -> float | None:
        """Seconds until the filler is due (0: now), None when there is to be none: no search yet, text came,
        something was said, or it was played already. ``elapsed``: seconds since the question ended."""
        if self.filler_after <= 0 or self.filler_played or said or not self.waiting:
            return None
        return max(0.0, self.filler_after - elapsed)
