"""What the appliance keeps as speech for offline mode: the one sentence for a question that is not a command,
and the word clips that say the replies which vary (:mod:`.clips`)."""

from __future__ import annotations

from collections.abc import Iterable

from appliance.local.offline import clips

#: the cached phrase said to a question that is not a command while offline
OFFLINE_HELP = "offline_help"
OFFLINE_HELP_TEXT = "I'm offline right now; I can still do timers, volume and the time."


def offline_phrases(timer_names: Iterable[str]) -> dict[str, str]:
    """Every phrase offline mode needs, key → text, for the phrase cache."""
    return {OFFLINE_HELP: OFFLINE_HELP_TEXT, **clips.vocabulary(timer_names)}
