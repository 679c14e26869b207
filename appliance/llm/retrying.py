"""The retry loop around one model request, within the turn's deadline.

A request that fails before any of its text was said (connect error, 429, 5xx, stall, a mid-stream
disconnect, ``response.failed``, an ``error`` event) is sent again, as :class:`~appliance.retry.RetryPolicy`
decides, sleeping on the cancel token; once text was said the answer ends with a short spoken apology
instead (repeating the start would sound broken). When nothing at all can be said the error is raised and
the app plays its offline/error phrase (and reports it; this loop emits ``error`` events only for failures
it recovers from or apologises for, so none is reported twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

from appliance.cancel import CancelToken
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Error
from appliance.llm.budget import Budget
from appliance.ports import Emit
from appliance.retry import RetryPolicy
from appliance.text.piece import Piece

log = logging.getLogger(__name__)

R = TypeVar("R")

_STAGE = "assistant"


class Failure(Exception):
    """One attempt failed; what the loop needs to decide on a retry."""

    def __init__(
        self,
        error: ApplianceError,
        *,
        yielded: bool = False,
        retry_after: float | None = None,
        previous_missing: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.yielded = yielded
        self.retry_after = retry_after
        self.previous_missing = previous_missing


class PreviousMissing(Exception):
    """The server no longer knows previous_response_id."""


def retrying(
    attempt: Callable[[], Generator[Piece, None, R | None]],
    *,
    has_previous: bool,
    policy: RetryPolicy,
    budget: Budget,
    cancel: CancelToken,
    emit: Emit,
    redact: Callable[[str], str],
    said_anything: Callable[[], bool],
    apologise: Callable[[ErrorKind], Iterator[Piece]],
) -> Generator[Piece, None, R | None]:
    """Run ``attempt`` until it gives an outcome; None when cancelled or after an apology.

    Raises the attempt's ApplianceError when it cannot be retried and nothing was said, and PreviousMissing
    when the server forgot the conversation (the caller starts afresh)."""
    number = 0
    clock = budget.clock
    while True:
        try:
            return (yield from attempt())
        except Failure as failure:
            caught = failure
        if cancel.cancelled:
            return None
        if caught.previous_missing and has_previous:
            raise PreviousMissing()
        error = caught.error
        delay = None
        if error.retryable and not caught.yielded:
            number += 1
            now = clock()
            start = now + budget.left() - policy.deadline  # the policy's deadline, ending when the turn's does
            delay = policy.next_delay(number, start, now, caught.retry_after)
        if delay is None:
            if said_anything():
                message = redact(error.message + "; the answer was cut short")
                emit(Error(error.kind, _STAGE, message))
                yield from apologise(error.kind)
                return None
            raise error
        log.info("assistant: %s; retry %d in %.1f s", redact(error.message), number, delay)
        emit(Error(error.kind, _STAGE, redact(f"{error.message}; retrying in {delay:.1f} s")))
        if cancel.wait(delay):
            return None
