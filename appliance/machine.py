"""The appliance's states and the one table of transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"  # waiting for the wake word or a button press
    LISTENING = "listening"  # recording the question until the speaker stops
    THINKING = "thinking"  # transcribing, asking the model, running tools
    SPEAKING = "speaking"  # playing the answer (or an error phrase)
    MUTED = "muted"  # microphone off: no wake word, no recording


S = State

#: Every allowed transition, and nothing else. Triggers are documented beside each one.
TRANSITIONS: dict[State, frozenset[State]] = {
    # wake word, button, `ctl press`; a typed question (`ctl ask`) goes straight to thinking; long press mutes
    S.IDLE: frozenset({S.LISTENING, S.THINKING, S.MUTED}),
    # endpoint reached -> thinking; no speech / cancel -> idle; error phrase -> speaking
    S.LISTENING: frozenset({S.THINKING, S.IDLE, S.SPEAKING, S.MUTED}),
    # first audio -> speaking; empty transcript / cancel / error -> idle; barge-in wake word -> listening
    S.THINKING: frozenset({S.SPEAKING, S.IDLE, S.LISTENING, S.MUTED}),
    # answer played -> idle, or listening for a follow-up / barge-in; thinking again when a tool round
    # follows a spoken filler
    S.SPEAKING: frozenset({S.IDLE, S.LISTENING, S.THINKING, S.MUTED}),
    # long press again unmutes
    S.MUTED: frozenset({S.IDLE}),
}


class InvalidTransition(RuntimeError):
    pass


class StateMachine:
    """Holds the current state; refuses transitions the table does not allow."""

    def __init__(self, initial: State = State.IDLE) -> None:
        self.state = initial

    def can(self, target: State) -> bool:
        return target in TRANSITIONS[self.state]

    def go(self, target: State) -> State:
        """Move to ``target`` and return the previous state. Raises InvalidTransition."""
        if target not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state.value} -> {target.value} is not allowed")
        previous, self.state = self.state, target
        return previous
