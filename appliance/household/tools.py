"""The model's tool for the household: "tell everyone dinner is ready" plays the message on every other device
(this device says its own answer as usual, so the message is not spoken twice here)."""

from __future__ import annotations

from collections.abc import Callable

from appliance.household.announce import Delivery


def summary(deliveries: list[Delivery]) -> str:
    """What the model is told: where it played, where not and why."""
    if not deliveries:
        return "No other device of the household answered: the message was not heard anywhere else."
    played = [d.device for d in deliveries if d.ok]
    parts = [f"Played on {', '.join(played)}." if played else "Played nowhere."]
    parts += [f"Not played on {d.device}: {d.status}." for d in deliveries if not d.ok]
    return " ".join(parts)


def tell_everyone_tool(announce: Callable[[str], list[Delivery]]) -> Callable[[str], str]:
    """The tool, bound to the household's ``announce_all`` (registered only when the household runs)."""

    def tell_everyone(message: str) -> str:
        """Say a message out loud, after a chime, on every other device of the household (the other rooms):
        "tell everyone dinner is ready", "announce that we leave in five minutes". Then tell the user briefly
        where it was heard.

        Args:
            message: The words to say in the other rooms, as they should be spoken ("Dinner is ready.").
        """
        text = " ".join(message.split())
        if not text:
            return "Nothing was sent: the message was empty."
        return summary(announce(text))

    return tell_everyone
