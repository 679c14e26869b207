"""A question while the cloud cannot be reached: recognised on the device, answered if it is a command.

The recording goes to the device's recogniser (:mod:`.recogniser`); words it trusts are matched and carried out
by the same local commands as a transcript's, so an offline "set a timer for
ten minutes" sets the same timer. The answer is said without the network: a cached phrase, the volume's
sound, or the reply's words from cached clips (:mod:`.clips`). Anything else gets one short cached sentence
(:data:`~.phrases.OFFLINE_HELP`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from appliance.cancel import CancelToken
from appliance.events import Event, Info
from appliance.local.commands import Reply
from appliance.local.matcher import CommandMatcher
from appliance.local.offline import clips, grammar
from appliance.local.offline.recogniser import AGREEMENT, SOUNDS_AGREEMENT, Heard, PocketsphinxRecogniser

log = logging.getLogger(__name__)


def trusted(heard: Heard) -> bool:
    """The grammar's words are a command, and the free recognition (when it ran) heard the same command, or every
    number of the command with mostly the same words or mostly the same sounds."""
    matcher = _matcher()
    command = matcher.match(grammar.digits(heard.text)) if heard.text else None
    if command is None:
        return False
    if heard.free is None or matcher.match(grammar.digits(heard.free)) == command:
        return True
    if not _numbers(heard.text) <= _numbers(heard.free):
        return False  # a number the free recognition did not hear: "fifty minutes" where it heard "fifteen"
    return heard.agreement >= AGREEMENT or heard.sounds >= SOUNDS_AGREEMENT


def _numbers(words: str) -> set[str]:
    """The numbers said in ``words`` ("twenty five minutes" → {"25"})."""
    return set(re.findall(r"\d+", grammar.digits(words)))


@functools.cache
def _matcher() -> CommandMatcher:
    return CommandMatcher()


class Commands(Protocol):
    """The local commands (:class:`~appliance.local.commands.LocalCommands`, or the appliance's deferred one)."""

    def handle(self, text: str, cancel: CancelToken, emit: Callable[[Event], None]) -> Reply | None: ...


@dataclass(frozen=True)
class OfflineAnswer:
    """What to do with an offline question: the command's reply, or None (then :data:`OFFLINE_HELP`)."""

    heard: Heard
    reply: Reply | None


class OfflineCommands:
    def __init__(
        self,
        recogniser: PocketsphinxRecogniser,
        local: Commands,
        cached: Callable[[str], bool],
        clip_keys: Callable[[], list[str]],
    ) -> None:
        self.recogniser = recogniser
        self.local = local
        self._cached = cached
        self._clip_keys = clip_keys

    def warm(self) -> None:
        """Load the recogniser now (~0.2 s): the appliance has just found itself offline."""
        self.recogniser.load()

    def answer(self, audio: np.ndarray, cancel: CancelToken, emit: Callable[[Event], None]) -> OfflineAnswer:
        heard = self.recogniser.hear(audio)
        emit(Info("offline_heard", heard.text if heard.free is None else f"{heard.text} / {heard.free}"))
        if not trusted(heard):
            return OfflineAnswer(heard, None)
        reply = self.local.handle(grammar.digits(heard.text), cancel, emit)
        if reply is None:
            return OfflineAnswer(heard, None)
        return OfflineAnswer(heard, self._sayable(reply))

    def _sayable(self, reply: Reply) -> Reply:
        """The reply as it can be said with no speech service: its cached phrase, a sound, or its clips."""
        if reply.phrase is not None or reply.sound or reply.ends_turn or not reply.text:
            return reply
        keys = clips.clips(reply.text, [k for k in self._clip_keys() if self._cached(k)])
        if keys is None:
            log.info("offline: no cached words for %r; a sound says it was done", reply.text)
            return replace(reply, sound=True)
        return replace(reply, clips=tuple(keys))
