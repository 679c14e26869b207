"""The local commands' replies that are worth keeping as speech: said often, always in the same words.

They join the offline phrases (:class:`appliance.speech.phrases.PhraseCache`): synthesized once, the first
time synthesis works, and kept in the state directory, so the most common local answers start at once,
without a round trip to the speech service. A reply not in the table (the time, what a timer has left) is
synthesized when it is said.
"""

from __future__ import annotations

from appliance.timers import words

#: Timer lengths people ask for most (seconds): their "set" confirmation is kept as speech.
COMMON_TIMERS = (30, 60, 90, 120, 180, 240, 300, 360, 420, 480, 600, 900, 1200, 1500, 1800, 2700, 3600)


def _replies() -> dict[str, str]:
    replies = {
        "local_forgotten": "Okay, I've forgotten our conversation.",
        "local_no_timers": "No timers are running.",
        "local_timer_cancelled": "Cancelled the timer.",
    }
    for seconds in COMMON_TIMERS:
        # the timer tool's own sentence (timers/tools.py), so a cached one says exactly what was done
        replies[f"local_timer_set_{seconds}"] = f"The timer is set for {words.duration(seconds)}."
    return replies


REPLIES: dict[str, str] = _replies()
_BY_TEXT = {text: key for key, text in REPLIES.items()}


def key_for(text: str) -> str | None:
    """The cached phrase that says exactly ``text``, if there is one."""
    return _BY_TEXT.get(text)
