"""Carrying out a local command: the same timer and volume tools the model calls, and a short reply.

:class:`LocalCommands` takes the final transcript; when it is one of the device's own commands
(:mod:`.matcher`) it runs it at once through the tools' own functions (so a timer set here is the same as one
the model sets) and says what to answer: a cached phrase, a short sentence, or only a sound. The model is not
asked. Anything else returns None and the turn goes to the model as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.cancel import CancelToken
from appliance.local.intents import Command, Intent
from appliance.local.replies import REPLIES, key_for
from appliance.ports import Controls, Emit, ToolContext
from appliance.timers import tools as timer_tools
from appliance.timers import words
from appliance.tools import builtin

if TYPE_CHECKING:
    from appliance.local.matcher import CommandMatcher


@dataclass(frozen=True)
class Reply:
    """What the appliance answers to a local command."""

    command: Command
    text: str
    """What it says (and what the conversation remembers); "" when it says nothing."""
    phrase: str | None = None
    """A cached phrase to play instead of synthesizing ``text``."""
    sound: bool = False
    """A short confirmation sound instead of words (volume: heard at the new level)."""
    ends_turn: bool = False
    """Stop and never mind: nothing more is said."""
    remember: bool = True
    """The exchange goes into the model's context for the next turn."""
    clips: tuple[str, ...] = ()
    """Offline: cached word clips that say ``text`` one after another (no speech service can be reached)."""


class LocalCommands:
    """Runs the device's own commands without the model."""

    def __init__(
        self,
        matcher: CommandMatcher,
        controls: Callable[[], Controls],
        *,
        cached: Callable[[str], bool] = lambda key: False,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        """``cached``: whether a reply's phrase is kept as speech (``PhraseCache.has``)."""
        self.matcher = matcher
        self._controls = controls
        self._cached = cached
        self._now = now

    def warm(self) -> None:
        """The first match builds hassil's number words (~0.4 s): done at start, not in the first turn."""
        self.matcher.match("set a timer for ten minutes")

    def handle(self, text: str, cancel: CancelToken, emit: Emit) -> Reply | None:
        command = self.matcher.match(text)
        if command is None:
            return None
        ctx = ToolContext(controls=self._controls(), camera=None, indicators=None, cancel=cancel, emit=emit)
        reply = self.run(command, ctx)
        if reply is None:
            return None
        key = key_for(reply.text) if reply.text and not reply.sound else None
        return replace(reply, phrase=key) if key is not None and self._cached(key) else reply

    def run(self, command: Command, ctx: ToolContext) -> Reply | None:
        """Carry the command out; None when it needs a conversation after all (which of several timers to
        cancel): then nothing was done and the model takes the question."""
        intent = command.intent
        if intent is Intent.TIMER_START:
            assert command.seconds is not None
            return Reply(command, timer_tools.set_timer(ctx, command.seconds, command.name))
        if intent is Intent.TIMER_STATUS:
            return self._status(command, ctx)
        if intent in (Intent.TIMER_CANCEL, Intent.TIMER_CANCEL_ALL):
            return self._cancel(command, ctx)
        if intent is Intent.VOLUME_SET:
            assert command.percent is not None
            return Reply(command, builtin.set_volume(ctx, command.percent), sound=True)
        if intent in (Intent.VOLUME_UP, Intent.VOLUME_DOWN):
            text = builtin.change_volume(ctx, "up" if intent is Intent.VOLUME_UP else "down")
            return Reply(command, text, sound=True)
        if intent is Intent.TIME:
            now = self._now()
            return Reply(command, f"It's {now:%I:%M %p}.".replace("It's 0", "It's "))
        if intent is Intent.FORGET:
            ctx.controls.reset_conversation()
            return Reply(command, REPLIES["local_forgotten"], remember=False)
        # stop, never mind: the turn ends quietly
        return Reply(command, "", ends_turn=True, remember=False)

    def _cancel(self, command: Command, ctx: ToolContext) -> Reply | None:
        service = ctx.controls.timers()
        running = [] if service is None else service.running()
        if not running:
            return Reply(command, REPLIES["local_no_timers"])
        everything = command.intent is Intent.TIMER_CANCEL_ALL
        named = [t for t in running if command.name is None or t.label == command.name]
        if not everything and len(named) != 1:
            return None  # which one? (or none by that name): the model asks, as it would have
        return Reply(command, timer_tools.cancel_timer(ctx, command.name, all_timers=everything))

    def _status(self, command: Command, ctx: ToolContext) -> Reply:
        service = ctx.controls.timers()
        if service is None:
            return Reply(command, "Timers are not available on this device.")
        running = service.running()
        if command.name is not None:
            running = [t for t in running if t.label == command.name]
            if not running:
                return Reply(command, f"There is no {command.name} timer running.")
        if not running:
            return Reply(command, REPLIES["local_no_timers"])
        now = service.now()
        parts = [f"The {t.name} has {words.duration(t.left(now))} left." for t in running]
        return Reply(command, " ".join(parts))
