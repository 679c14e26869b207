"""Running the model's function calls: in parallel, each in its own thread, under one timeout and the turn's cancel.

Every call gets exactly one result here, except those still running when the turn is cancelled: they are
cancelled and left without one, so the caller answers them later (the next request says they were not
completed). A call that cannot run (unknown tool, bad arguments) gets its error as the result at once, so
the model can correct itself. Every result is made safe here, once, whatever tool gave it (built in, a plugin, a
remote one): its output goes back to the model and its message into the events, and neither may carry a
lone surrogate or a control character (:mod:`appliance.text.clean`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.cancel import CancelToken
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.ports import Emit, ToolContext
from appliance.text.clean import clean_text, clean_value
from appliance.tools.confirm import ONE_AT_A_TIME_OUTPUT, Pending, question
from appliance.tools.registry import ToolRegistry
from appliance.tools.tool import BadToolCall, FunctionCall, Tool, ToolOutput

log = logging.getLogger(__name__)

#: Output for a call whose tool did not finish because the user cancelled the turn.
CANCELLED_OUTPUT = "Not completed: the user cancelled the request before this tool finished."


@dataclass(frozen=True)
class CallResult:
    """What a call gave: its output for the model, and, when it failed, the error to report."""

    call: FunctionCall
    output: ToolOutput
    ok: bool
    ms: float
    kind: ErrorKind | None = None
    message: str = ""


@dataclass(frozen=True)
class RunOutcome:
    ends_turn: bool
    """A tool that ends the turn (``stop``) was among the calls."""
    cancelled: bool
    """The turn was cancelled while tools ran; calls without a result were left unanswered."""
    pending: Pending | None = None
    """A call that needs the user's spoken confirmation: not run, and given no result here."""


_Item = tuple[str, ToolOutput | None, BaseException | None]


@dataclass
class _Running:
    call: FunctionCall
    token: CancelToken
    start: float
    unlink: Callable[[], None]


class ToolRunner:
    """Binds calls to the registry's tools and runs them; results go to ``on_result`` as they come."""

    def __init__(
        self,
        registry: ToolRegistry,
        make_context: Callable[[CancelToken, Emit], ToolContext],
        *,
        needs_confirmation: Callable[[Tool], bool] = lambda _: False,
    ) -> None:
        """``needs_confirmation``: a call to such a tool is never run by :meth:`run` (it comes back as the
        outcome's ``pending``); only :meth:`run_confirmed` runs it, once the user said yes."""
        self._registry = registry
        self._make_context = make_context
        self._needs_confirmation = needs_confirmation

    def run(
        self,
        calls: Sequence[FunctionCall],
        cancel: CancelToken,
        emit: Emit,
        *,
        timeout: float,
        on_result: Callable[[CallResult], None],
    ) -> RunOutcome:
        """Run ``calls`` in parallel for at most ``timeout`` seconds (the caller caps it by the turn's deadline).

        Calls past the timeout are cancelled and answered with a timeout error. A call that needs the user's
        confirmation is not run: the first one is the outcome's ``pending`` (without a result), any other
        is answered as not done."""
        if cancel.cancelled:
            return RunOutcome(False, True)
        on_result = _cleaning(on_result)
        bound: list[tuple[FunctionCall, Tool, dict[str, Any]]] = []
        pending: Pending | None = None
        for call in calls:
            try:
                found, kwargs = self._registry.bind(call.name, call.arguments)
            except BadToolCall as exc:
                on_result(
                    CallResult(
                        call,
                        f"Error: {exc}. Correct the call, or answer without this tool.",
                        ok=False,
                        ms=0.0,
                        kind=ErrorKind.BAD_TOOL_CALL,
                        message=f"{call.name}: {exc}",
                    )
                )
                continue
            if self._needs_confirmation(found):
                if pending is None:
                    pending = Pending(call, found, kwargs, question(found, kwargs))
                else:
                    on_result(CallResult(call, ONE_AT_A_TIME_OUTPUT, ok=False, ms=0.0))
                continue
            bound.append((call, found, kwargs))
        outcome = self._execute(bound, cancel, emit, timeout=timeout, on_result=on_result)
        return dataclasses.replace(outcome, pending=pending)

    def run_confirmed(
        self,
        pending: Pending,
        cancel: CancelToken,
        emit: Emit,
        *,
        timeout: float,
        on_result: Callable[[CallResult], None],
    ) -> RunOutcome:
        """Run a call the user confirmed, as :meth:`run` runs any other (bounded, cancellable)."""
        bound = [(pending.call, pending.tool, pending.kwargs)]
        return self._execute(bound, cancel, emit, timeout=timeout, on_result=_cleaning(on_result))

    def _execute(
        self,
        bound: Sequence[tuple[FunctionCall, Tool, dict[str, Any]]],
        cancel: CancelToken,
        emit: Emit,
        *,
        timeout: float,
        on_result: Callable[[CallResult], None],
    ) -> RunOutcome:
        results: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        running: dict[str, _Running] = {}
        ends_turn = False
        # Registered before the tools' own cancel links, so the wake-up marker is queued ahead of any
        # result a tool gives because it was cancelled: results before the marker count, later ones not.
        wake = cancel.on_cancel(lambda: results.put(None))
        try:
            if cancel.cancelled:
                return RunOutcome(ends_turn, True)
            for call, found, kwargs in bound:
                ends_turn = ends_turn or found.ends_turn
                token = CancelToken()
                unlink = cancel.on_cancel(_canceller(token))
                context = self._make_context(token, emit)
                worker = threading.Thread(
                    target=_run_tool,
                    args=(found, context, kwargs, call.call_id, results),
                    name=f"tool-{call.name}",
                    daemon=True,
                )
                running[call.call_id] = _Running(call, token, time.monotonic(), unlink)
                worker.start()
            deadline = time.monotonic() + timeout
            while running:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = results.get(timeout=left)
                except queue.Empty:
                    break
                if item is None:
                    for entry in running.values():
                        entry.token.cancel("turn cancelled")  # their calls get CANCELLED_OUTPUT next time
                    return RunOutcome(ends_turn, True)
                on_result(_finished(running, item))
            for entry in running.values():
                entry.token.cancel("tool timeout")
                entry.unlink()
                name = entry.call.name
                on_result(
                    CallResult(
                        entry.call,
                        f"Error: the tool {name} took longer than {timeout:g} seconds and was stopped.",
                        ok=False,
                        ms=(time.monotonic() - entry.start) * 1000,
                        kind=ErrorKind.TOOL_TIMEOUT,
                        message=f"{name}: no result within {timeout:g} s",
                    )
                )
            running.clear()
            return RunOutcome(ends_turn, False)
        finally:
            wake()
            for entry in running.values():
                entry.unlink()


def _cleaning(on_result: Callable[[CallResult], None]) -> Callable[[CallResult], None]:
    def clean(result: CallResult) -> None:
        output: ToolOutput = clean_text(result.output) if isinstance(result.output, str) else clean_value(result.output)
        on_result(dataclasses.replace(result, output=output, message=clean_text(result.message)))

    return clean


def _canceller(token: CancelToken) -> Callable[[], None]:
    return lambda: token.cancel("turn cancelled")


def _finished(running: dict[str, _Running], item: _Item) -> CallResult:
    call_id, output, failure = item
    entry = running.pop(call_id)
    entry.unlink()
    ms = (time.monotonic() - entry.start) * 1000
    call = entry.call
    if failure is None and output is not None:
        return CallResult(call, output, ok=True, ms=ms)
    if isinstance(failure, Cancelled):
        return CallResult(call, CANCELLED_OUTPUT, ok=False, ms=ms)
    detail = failure.message if isinstance(failure, ApplianceError) else f"{type(failure).__name__}: {failure}"
    return CallResult(
        call,
        f"Error: the tool {call.name} failed ({detail}).",
        ok=False,
        ms=ms,
        kind=ErrorKind.TOOL_FAILED,
        message=f"{call.name}: {detail}",
    )


def _run_tool(
    found: Tool, context: ToolContext, kwargs: dict[str, Any], call_id: str, results: queue.SimpleQueue[_Item | None]
) -> None:
    try:
        output = found.invoke(context, kwargs)
    except Exception as exc:  # reported as the call's output and a tool_failed event
        if not isinstance(exc, (ApplianceError, Cancelled)):
            log.warning("tool %s raised", found.name, exc_info=True)
        results.put((call_id, None, exc))
        return
    results.put((call_id, output, None))
