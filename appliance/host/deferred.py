"""Stages the appliance starts without: built on first use or in the background, or standing in for a cloud
stage whose key is missing. Each implements its port in full, so the app cannot tell them from the real one.

The cloud SDKs take over a second to import on a Pi; the appliance is ready to hear the wake word without
them, and they are in place long before the first question has been spoken."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Generic, NoReturn, Protocol, TypeVar

import numpy as np

from appliance.cancel import CancelToken
from appliance.core.parts import LocalAnswers
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, ErrorKind
from appliance.host.startup import SDK_IMPORTS, warm_up
from appliance.ports import Assistant, Emit, Transcriber
from appliance.timings import TurnTimings

if TYPE_CHECKING:
    from appliance.local.commands import Reply
    from appliance.text.piece import Piece

T = TypeVar("T")


class MissingKey:
    """Stands in for a cloud stage whose API key is missing: every use is a clear, typed error
    (ports.Transcriber and ports.Assistant)."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def _fail(self) -> ApplianceError:
        return ApplianceError(
            ErrorKind.AUTH, f"{self.variable} is not set: add it to /etc/appliance/env", stage="cloud"
        )

    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> NoReturn:
        raise self._fail()

    def respond(
        self,
        text: str,
        cancel: CancelToken,
        emit: Emit,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
        fragments: bool = False,
        filler: Callable[[CancelToken], None] | None = None,
    ) -> NoReturn:
        raise self._fail()

    def reset(self) -> None:
        pass

    def remember(self, question: str, answer: str) -> None:
        pass

    def pending_confirmation(self) -> str | None:
        return None

    def settle_confirmation(self, yes: bool) -> None:
        pass

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass


class Deferred(Generic[T]):
    """Builds an object on first use (:meth:`get`), or earlier in a background thread (:meth:`warm`)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._target: T | None = None

    def get(self) -> T:
        target = self._target
        if target is not None:
            return target
        with SDK_IMPORTS, self._lock:  # one build or warm-up at a time, always in this order (no lock cycle)
            if self._target is None:
                self._target = self._factory()
            return self._target

    @property
    def built(self) -> bool:
        return self._target is not None

    def warm(self) -> threading.Thread:
        """Build it in the background; returns the thread (tests join it). A failure is logged (one line
        for a network that is not up yet) and reported again, as a typed error, when the turn needs it."""
        thread = threading.Thread(target=warm_up, args=("a cloud client", self.get), name="warm-up", daemon=True)
        thread.start()
        return thread


class DeferredTranscriber(Deferred[Transcriber]):
    """ports.Transcriber, built when first needed."""

    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> str:
        return self.get().transcribe(pcm, cancel, deadline=deadline, timings=timings)


class CloudAssistant(Assistant, Protocol):
    """The model behind its connection (appliance/llm/responses.py)."""

    def prepare(self) -> object:
        """Open the connection for the next turn, in the background."""
        ...

    def close(self) -> None: ...


class DeferredAssistant(Deferred[CloudAssistant]):
    """ports.Assistant, built when first needed (every use waits for the build, as the first turn does)."""

    def respond(
        self,
        text: str,
        cancel: CancelToken,
        emit: Emit,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
        fragments: bool = False,
        filler: Callable[[CancelToken], None] | None = None,
    ) -> Iterator[Piece]:
        return self.get().respond(
            text, cancel, emit, deadline=deadline, timings=timings, fragments=fragments, filler=filler
        )

    def reset(self) -> None:
        self.get().reset()

    def remember(self, question: str, answer: str) -> None:
        self.get().remember(question, answer)

    def pending_confirmation(self) -> str | None:
        return self.get().pending_confirmation()

    def settle_confirmation(self, yes: bool) -> None:
        self.get().settle_confirmation(yes)

    def prepare(self) -> object:
        return self.get().prepare()

    def close(self) -> None:
        """Closes it only if it was built."""
        if self.built:
            self.get().close()


class DeferredCommands(Deferred[LocalAnswers]):
    """The device's own commands (core.parts.LocalAnswers), built in the background: hassil and the templates
    take ~0.4 s to load."""

    def handle(self, text: str, cancel: CancelToken, emit: Emit) -> Reply | None:
        return self.get().handle(text, cancel, emit)
