"""The assistant on the OpenAI Responses API: one streamed turn, its tool loop, the conversation.

``respond(text, cancel, emit)`` is a generator of speakable sentences. Each request is streamed
(``responses.create(stream=True)``); text deltas go through the sentence splitter and are yielded as soon
as a sentence is whole, so speech starts after the first one. Function calls are assembled from the
stream, checked against the registry, run in parallel (each with ``tool_timeout``) and answered, every
call exactly once, with ``function_call_output`` items in the next request (``previous_response_id``;
instructions and tools are sent again each time), up to ``max_tool_rounds``.

Networks fail, so:

- the SDK's own retries are switched off for these requests (``max_retries=0``): it would sleep through
  a Retry-After of up to two minutes where a cancel cannot reach it. Every retry decision is made here
  with :class:`~appliance.retry.RetryPolicy`, sleeping on the cancel token, within ``deadline`` seconds
  of waiting for the model per turn (time spent running tools or speaking does not count);
- a request that fails before any of its text was yielded (connect error, 429, 5xx, stall, a mid-stream
  disconnect, ``response.failed``, an ``error`` event) is sent again; once text was yielded the answer
  ends with a short spoken apology instead (repeating the start would sound broken);
- when nothing at all can be said, :class:`~appliance.errors.ApplianceError` is raised with its kind and
  the app plays its offline/error phrase (and emits the ``error`` event; this class emits ``error`` events
  only for failures it recovers from or apologises for, so none is reported twice).

Each request runs in a worker thread that hands events over a queue; the turn waits on that queue, so a
cancel (button, stop) ends the turn at once, and the stream is closed from ``cancel.on_cancel``.
The conversation is ``previous_response_id``. A response whose function calls were not all answered
(the turn was cancelled while tools ran, or the round limit hit) stays owed: the next turn starts from it
and sends the missing outputs along with the new question, so the API never sees an orphaned call (400).
A response that was cut off is never used as the anchor: the conversation falls back to the last
complete one.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from ..cancel import CancelToken
from ..errors import ApplianceError, Cancelled, ErrorKind
from ..events import Error, Info, ToolCall
from ..ports import Emit, ToolContext
from ..retry import RetryPolicy
from ..settings import AssistantSettings, Secrets
from .client import (
    classify_failure,
    classify_openai_error,
    is_previous_response_missing,
    make_openai_client,
    make_timeout,
    retry_after,
)
from .sentences import SentenceSplitter
from .speakable import SpeakableFilter
from .tools import BadToolCall, Tool, ToolOutput, ToolRegistry

log = logging.getLogger(__name__)

#: Spoken when the connection fails after part of the answer was spoken.
LOST_CONNECTION = "Sorry, I lost the connection."
#: Spoken when a request fails for another reason after part of the answer was spoken.
SOMETHING_WENT_WRONG = "Sorry, something went wrong."
#: Spoken when the model keeps calling tools past ``max_tool_rounds``.
TOO_MANY_ROUNDS = "Sorry, I couldn't finish that."
#: The sentences this module may yield on its own; the speech stage can map them to cached phrases.
APOLOGIES = {"lost_connection": LOST_CONNECTION, "error": SOMETHING_WENT_WRONG,
             "too_many_rounds": TOO_MANY_ROUNDS}

#: Output for a call whose tool did not finish because the user cancelled the turn.
CANCELLED_OUTPUT = "Not completed: the user cancelled the request before this tool finished."
#: Output for calls made past the round limit (they are answered, never run).
NOT_RUN_OUTPUT = "Not run: too many tool calls for one request."

_STAGE = "assistant"
_TOOL_STAGE = "tool"
_MAX_EVENT_ARGUMENTS = 1000


class ResponsesAssistant:
    """ports.Assistant on the Responses API with tools. Thread-safe ``reset()``; one turn at a time."""

    def __init__(self, settings: AssistantSettings, secrets: Secrets, tools: ToolRegistry,
                 make_context: Callable[[CancelToken, Emit], ToolContext], *,
                 client: openai.OpenAI | None = None, clock: Callable[[], float] = time.monotonic,
                 retry_policy: RetryPolicy | None = None):
        """``clock`` measures conversation idleness (tests pass a fake one); turn timings and deadlines
        always use ``time.monotonic``. ``client`` defaults to :func:`make_openai_client`; either way its
        own retries are turned off for these requests."""
        self._settings = settings
        self._secrets = secrets
        self._tools = tools
        self._make_context = make_context
        base = client if client is not None else make_openai_client(settings, secrets, max_retries=0)
        self._client = base.with_options(max_retries=0)
        self._clock = clock
        self._policy = retry_policy or RetryPolicy(max_retries=settings.max_retries, deadline=settings.deadline,
                                                   rng=random.Random())
        self._lock = threading.Lock()
        self._conversation = _Conversation()
        self.last_timings: dict[str, float] = {}
        """time.monotonic() of request_start, first_delta, first_sentence and done for the last turn."""

    # --- ports.Assistant

    def respond(self, text: str, cancel: CancelToken, emit: Emit) -> Iterator[str]:
        self.last_timings = {}
        return self._turn(_Turn(text, cancel, emit, self.last_timings, _Budget(self._settings.deadline)))

    def reset(self) -> None:
        with self._lock:
            self._conversation.forget()
            self._conversation.generation += 1

    # --- for the control socket and tests

    @property
    def previous_response_id(self) -> str | None:
        """Where the next turn continues from (the owed response, or the last complete one)."""
        with self._lock:
            c = self._conversation
            return c.owed.response_id if c.owed is not None else c.anchor

    # --- the turn

    def _turn(self, turn: _Turn) -> Generator[str, None, None]:
        previous, carried, generation = self._begin(turn)
        items = [*carried, _user_message(turn.text)]
        rounds = 0
        restarted = False
        try:
            while not turn.cancel.cancelled:
                try:
                    outcome = yield from self._request(turn, previous, items)
                except _PreviousMissing:
                    if restarted or previous is None:
                        raise ApplianceError(ErrorKind.BAD_REQUEST, "the server does not know the conversation",
                                             stage=_STAGE) from None
                    restarted = True
                    self._forget(generation)
                    turn.emit(Info("conversation_restarted",
                                   "the server no longer knew the previous response; starting afresh"))
                    previous, items, rounds = None, [_user_message(turn.text)], 0
                    continue
                if outcome is None:
                    return  # cancelled, or the answer already ended with an apology
                if not outcome.calls:
                    self._commit(generation, anchor=outcome.response_id, owed=None)
                    return
                rounds += 1
                owed = _Owed(outcome.response_id, outcome.calls)
                if rounds > self._settings.max_tool_rounds:
                    owed.outputs = {call.call_id: NOT_RUN_OUTPUT for call in outcome.calls}
                    self._commit(generation, owed=owed)
                    turn.emit(Error(ErrorKind.TOO_MANY_ROUNDS.value, _STAGE,
                                    f"the model still called tools after {self._settings.max_tool_rounds} rounds"))
                    yield from turn.say(TOO_MANY_ROUNDS)
                    return
                self._commit(generation, owed=owed)
                ends_turn = self._run_tools(turn, owed)
                if turn.cancel.cancelled or ends_turn:
                    return  # the outputs stay owed; the next turn sends them
                previous, items = outcome.response_id, owed.items(CANCELLED_OUTPUT)
        finally:
            turn.timings["done"] = time.monotonic()
            with self._lock:
                self._conversation.last_used = self._clock()

    def _begin(self, turn: _Turn) -> tuple[str | None, list[dict[str, Any]], int]:
        with self._lock:
            c = self._conversation
            now = self._clock()
            idle = None if c.last_used is None else now - c.last_used
            expired = (idle is not None and idle > self._settings.conversation_idle_seconds
                       and (c.anchor is not None or c.owed is not None))
            if expired:
                c.forget()
            c.last_used = now
            if c.owed is not None:
                previous, carried = c.owed.response_id, c.owed.items(CANCELLED_OUTPUT)
            else:
                previous, carried = c.anchor, []
            generation = c.generation
        if expired:
            turn.emit(Info("conversation_expired", f"no turn for {idle:.0f} s; starting afresh"))
        return previous, carried, generation

    def _commit(self, generation: int, *, anchor: str | None = None, owed: _Owed | None = None) -> None:
        """Record where the conversation stands, unless it was reset during the turn."""
        with self._lock:
            c = self._conversation
            if c.generation != generation:
                return
            if owed is not None:
                c.owed = owed
            else:
                c.anchor, c.owed = anchor, None

    def _forget(self, generation: int) -> None:
        with self._lock:
            if self._conversation.generation == generation:
                self._conversation.forget()

    # --- one request, with its retries

    def _request(self, turn: _Turn, previous: str | None,
                 items: list[dict[str, Any]]) -> Generator[str, None, _Outcome | None]:
        attempt = 0
        while True:
            try:
                return (yield from self._attempt(turn, previous, items))
            except _Failure as failure:
                caught = failure
            if turn.cancel.cancelled:
                return None
            if caught.previous_missing and previous is not None:
                raise _PreviousMissing()
            error = caught.error
            delay = None
            if error.retryable and not caught.yielded:
                attempt += 1
                now = time.monotonic()
                delay = self._policy.next_delay(attempt, now - turn.budget.spent, now, caught.retry_after)
            if delay is None:
                if turn.yielded:
                    message = self._redact(error.message + "; the answer was cut short")
                    turn.emit(Error(error.kind.value, _STAGE, message))
                    yield from turn.say(_apology(error.kind))
                    return None
                raise error
            log.info("assistant: %s; retry %d in %.1f s", self._redact(error.message), attempt, delay)
            turn.emit(Error(error.kind.value, _STAGE, self._redact(f"{error.message}; retrying in {delay:.1f} s")))
            started = time.monotonic()
            cancelled = turn.cancel.wait(delay)
            turn.budget.spend(time.monotonic() - started)
            if cancelled:
                return None

    def _params(self, turn: _Turn, previous: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
        s = self._settings
        left = turn.budget.left()
        if left <= 0.05:
            raise _Failure(ApplianceError(ErrorKind.TIMEOUT, f"no answer within {s.deadline:g} s", stage=_STAGE))
        params: dict[str, Any] = {
            "model": s.model,
            "instructions": s.instructions,
            "input": items,
            "stream": True,
            "store": True,
            "max_output_tokens": s.max_output_tokens,
            "truncation": "auto",
            "timeout": make_timeout(min(s.connect_timeout, left), min(s.read_timeout, left)),
        }
        specs = self._tools.specs()
        if specs:
            params["tools"] = specs
        if previous is not None:
            params["previous_response_id"] = previous
        if s.reasoning_effort:
            params["reasoning"] = {"effort": s.reasoning_effort}
        return params

    def _attempt(self, turn: _Turn, previous: str | None,
                 items: list[dict[str, Any]]) -> Generator[str, None, _Outcome | None]:
        """One HTTP request, streamed. Returns the outcome, None when cancelled; raises _Failure."""
        params = self._params(turn, previous, items)
        turn.timings.setdefault("request_start", time.monotonic())
        guard = self._settings.connect_timeout + self._settings.read_timeout + 2.0
        reader = _StreamReader(self._client, params, turn.cancel)
        splitter = SentenceSplitter()
        speakable = SpeakableFilter()
        calls = _CallAssembly()
        yielded = False

        def spoken(pieces: list[str]) -> Iterator[str]:
            for sentence in pieces:
                piece = speakable(sentence)
                if piece:
                    yield piece

        try:
            for event in reader.events(turn.budget, guard):
                kind = getattr(event, "type", "")
                if kind in ("response.output_text.delta", "response.refusal.delta"):
                    if event.delta:
                        turn.timings.setdefault("first_delta", time.monotonic())
                        for piece in spoken(splitter.feed(event.delta)):
                            yielded = True
                            yield from turn.say(piece)
                elif kind == "response.output_item.added":
                    calls.added(event.item, event.output_index)
                elif kind == "response.function_call_arguments.delta":
                    calls.delta(event.item_id, event.delta)
                elif kind == "response.function_call_arguments.done":
                    calls.arguments_done(event.item_id, event.arguments)
                elif kind == "response.output_item.done":
                    if getattr(event.item, "type", "") == "message":
                        for piece in spoken(splitter.flush()):  # a filler ("let me look") before the tools
                            yielded = True
                            yield from turn.say(piece)
                    calls.done(event.item, event.output_index)
                elif kind in ("response.completed", "response.incomplete"):
                    for piece in spoken(splitter.flush()):
                        yielded = True
                        yield from turn.say(piece)
                    response = event.response
                    if kind == "response.incomplete":
                        log.info("assistant: response incomplete (%s)", _incomplete_reason(response))
                    return _Outcome(response.id, calls.final(response))
                elif kind == "response.failed":
                    error = getattr(event.response, "error", None)
                    raise _Failure(classify_failure(getattr(error, "code", None), getattr(error, "message", None)),
                                   yielded=yielded)
                elif kind == "error":
                    raise _Failure(classify_failure(event.code, event.message), yielded=yielded)
            raise _Failure(ApplianceError(ErrorKind.CONNECTION, "the stream ended before the response was complete",
                                          stage=_STAGE, retryable=True), yielded=yielded)
        except _CancelledRead:
            return None
        except _Failure:
            raise
        except _Stalled as exc:
            if turn.cancel.cancelled:
                return None
            raise _Failure(ApplianceError(ErrorKind.TIMEOUT, f"the stream stalled ({exc})", stage=_STAGE,
                                          retryable=True), yielded=yielded) from exc
        except Exception as exc:  # the SDK's errors, and anything unexpected from parsing the stream
            if turn.cancel.cancelled:
                return None
            if not isinstance(exc, openai.OpenAIError):
                log.exception("assistant: unexpected error while streaming")
            raise _Failure(classify_openai_error(exc, _STAGE), yielded=yielded, retry_after=retry_after(exc),
                           previous_missing=is_previous_response_missing(exc)) from exc
        finally:
            reader.close()

    # --- tools

    def _run_tools(self, turn: _Turn, owed: _Owed) -> bool:
        """Run the calls of ``owed`` in parallel, filling ``owed.outputs``. True if a tool ends the turn.

        Calls still running when the turn is cancelled are cancelled and left without an output here (the
        next request answers them with CANCELLED_OUTPUT)."""
        results: queue.SimpleQueue[tuple[str, ToolOutput | None, BaseException | None] | None] = queue.SimpleQueue()
        running: dict[str, _Running] = {}
        ends_turn = False
        # Registered before the tools' own cancel links, so the wake-up marker is queued ahead of any
        # result a tool gives because it was cancelled: results before the marker count, later ones not.
        wake = turn.cancel.on_cancel(lambda: results.put(None))
        if turn.cancel.cancelled:
            return ends_turn
        for call in owed.calls:
            try:
                tool, kwargs = self._tools.bind(call.name, call.arguments)
            except BadToolCall as exc:
                self._answer(turn, owed, call, f"Error: {exc}. Correct the call, or answer without this tool.",
                             ok=False, ms=0.0, kind=ErrorKind.BAD_TOOL_CALL,
                             message=f"{call.name}: {exc}")
                continue
            ends_turn = ends_turn or tool.ends_turn
            token = CancelToken()
            unlink = turn.cancel.on_cancel(lambda token=token: token.cancel("turn cancelled"))
            context = self._make_context(token, turn.emit)
            worker = threading.Thread(target=_run_tool, args=(tool, context, kwargs, call.call_id, results),
                                      name=f"tool-{call.name}", daemon=True)
            running[call.call_id] = _Running(call, tool, token, time.monotonic(), unlink)
            worker.start()
        if not running:
            wake()
            return ends_turn
        deadline = time.monotonic() + self._settings.tool_timeout
        try:
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
                    return ends_turn
                self._finished(turn, owed, running, item)
            for entry in running.values():
                entry.token.cancel("tool timeout")
                entry.unlink()
                limit = self._settings.tool_timeout
                self._answer(turn, owed, entry.call,
                             f"Error: the tool {entry.call.name} took longer than {limit:g} seconds and was stopped.",
                             ok=False, ms=(time.monotonic() - entry.start) * 1000, kind=ErrorKind.TOOL_TIMEOUT,
                             message=f"{entry.call.name}: no result within {limit:g} s")
            running.clear()
        finally:
            wake()
            for entry in running.values():
                entry.unlink()
        return ends_turn

    def _finished(self, turn: _Turn, owed: _Owed, running: dict[str, _Running],
                  item: tuple[str, ToolOutput | None, BaseException | None]) -> None:
        call_id, output, failure = item
        entry = running.pop(call_id)
        entry.unlink()
        ms = (time.monotonic() - entry.start) * 1000
        if failure is None and output is not None:
            self._answer(turn, owed, entry.call, output, ok=True, ms=ms)
        elif isinstance(failure, Cancelled):
            self._answer(turn, owed, entry.call, CANCELLED_OUTPUT, ok=False, ms=ms)
        else:
            detail = failure.message if isinstance(failure, ApplianceError) else f"{type(failure).__name__}: {failure}"
            self._answer(turn, owed, entry.call, f"Error: the tool {entry.call.name} failed ({detail}).",
                         ok=False, ms=ms, kind=ErrorKind.TOOL_FAILED, message=f"{entry.call.name}: {detail}")

    def _answer(self, turn: _Turn, owed: _Owed, call: _Call, output: ToolOutput, *, ok: bool, ms: float,
                kind: ErrorKind | None = None, message: str = "") -> None:
        with self._lock:
            owed.outputs[call.call_id] = output
        arguments = call.arguments if len(call.arguments) <= _MAX_EVENT_ARGUMENTS else \
            call.arguments[:_MAX_EVENT_ARGUMENTS] + "…"
        turn.emit(ToolCall(call.name, call.call_id, arguments, ok, round(ms, 1)))
        if kind is not None:
            log.warning("tool %s: %s", call.name, self._redact(message))
            turn.emit(Error(kind.value, _TOOL_STAGE, self._redact(message)))

    def _redact(self, text: str) -> str:
        return self._secrets.redact(text)


# --- the pieces --------------------------------------------------------------------------------------------

def _user_message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _apology(kind: ErrorKind) -> str:
    if kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.SERVER, ErrorKind.RATE_LIMITED,
                ErrorKind.RESPONSE_FAILED):
        return LOST_CONNECTION
    return SOMETHING_WENT_WRONG


def _incomplete_reason(response: Any) -> str:
    details = getattr(response, "incomplete_details", None)
    return str(getattr(details, "reason", "") or "unknown")


def _run_tool(tool: Tool, context: ToolContext, kwargs: dict[str, Any], call_id: str,
              results: queue.SimpleQueue[tuple[str, ToolOutput | None, BaseException | None] | None]) -> None:
    try:
        output = tool.invoke(context, kwargs)
    except Exception as exc:  # reported as the call's output and a tool_failed event
        if not isinstance(exc, (ApplianceError, Cancelled)):
            log.warning("tool %s raised", tool.name, exc_info=True)
        results.put((call_id, None, exc))
        return
    results.put((call_id, output, None))


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: str


@dataclass
class _Owed:
    """A stored response whose function calls need outputs before the conversation can go on."""

    response_id: str
    calls: list[_Call]
    outputs: dict[str, ToolOutput] = field(default_factory=dict)

    def items(self, missing: str) -> list[dict[str, Any]]:
        return [{"type": "function_call_output", "call_id": call.call_id,
                 "output": self.outputs.get(call.call_id, missing)} for call in self.calls]


@dataclass
class _Conversation:
    anchor: str | None = None
    """The last complete response whose calls are all answered: the next previous_response_id."""
    owed: _Owed | None = None
    last_used: float | None = None
    generation: int = 0
    """Bumped by reset(): a turn running across a reset does not write its state back."""

    def forget(self) -> None:
        self.anchor = None
        self.owed = None


@dataclass
class _Outcome:
    response_id: str
    calls: list[_Call]


@dataclass
class _Running:
    call: _Call
    tool: Tool
    token: CancelToken
    start: float
    unlink: Callable[[], None]


class _Budget:
    """Seconds of waiting for the model left in this turn (tools and speech do not count)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.spent = 0.0

    def spend(self, seconds: float) -> None:
        self.spent += max(0.0, seconds)

    def left(self) -> float:
        return self.deadline - self.spent


@dataclass
class _Turn:
    text: str
    cancel: CancelToken
    emit: Emit
    timings: dict[str, float]
    budget: _Budget
    yielded: bool = False

    def say(self, piece: str) -> Iterator[str]:
        self.timings.setdefault("first_sentence", time.monotonic())
        self.yielded = True
        yield piece


class _Failure(Exception):
    def __init__(self, error: ApplianceError, *, yielded: bool = False, retry_after: float | None = None,
                 previous_missing: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.yielded = yielded
        self.retry_after = retry_after
        self.previous_missing = previous_missing


class _PreviousMissing(Exception):
    """The server no longer knows previous_response_id."""


class _CancelledRead(Exception):
    """The turn was cancelled while waiting for the stream."""


class _Stalled(Exception):
    """Nothing came from the worker thread for far longer than the read timeout allows."""


class _CallAssembly:
    """Function calls put together from output_item.added, argument deltas and output_item.done."""

    def __init__(self) -> None:
        self._calls: dict[str, dict[str, Any]] = {}

    def added(self, item: Any, index: int) -> None:
        if getattr(item, "type", "") != "function_call":
            return
        key = item.id or item.call_id
        self._calls[key] = {"index": index, "call_id": item.call_id, "name": item.name,
                            "arguments": item.arguments or "", "done": False}

    def delta(self, item_id: str, delta: str) -> None:
        call = self._calls.get(item_id)
        if call is not None and not call["done"]:
            call["arguments"] += delta

    def arguments_done(self, item_id: str, arguments: str) -> None:
        call = self._calls.get(item_id)
        if call is not None:
            call["arguments"] = arguments

    def done(self, item: Any, index: int) -> None:
        if getattr(item, "type", "") != "function_call":
            return
        key = item.id or item.call_id
        self._calls[key] = {"index": index, "call_id": item.call_id, "name": item.name,
                            "arguments": item.arguments or "", "done": True}

    def final(self, response: Any) -> list[_Call]:
        """The calls of a finished response: its own output list when it carries one (authoritative),
        else what the stream assembled."""
        output = getattr(response, "output", None) or []
        listed = [item for item in output if getattr(item, "type", "") == "function_call"]
        if listed:
            return [_Call(item.call_id, item.name, item.arguments or "") for item in listed]
        ordered = sorted(self._calls.values(), key=lambda c: c["index"])
        return [_Call(c["call_id"], c["name"], c["arguments"]) for c in ordered if c["call_id"]]


class _StreamReader:
    """Runs one streamed request in a worker thread and hands its events over a queue.

    The turn waits on the queue, so a cancel wakes it at once; the worker may stay blocked in the
    network until its read timeout, but nobody waits for it. The stream is closed on cancel (from
    ``cancel.on_cancel``) and when the turn stops reading."""

    def __init__(self, client: openai.OpenAI, params: dict[str, Any], cancel: CancelToken) -> None:
        self._client = client
        self._params = params
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, name="responses-stream", daemon=True)
        self._thread.start()
        self._cancel = cancel
        self._unregister = cancel.on_cancel(self._cancelled)

    def events(self, budget: _Budget, guard: float) -> Iterator[Any]:
        while True:
            if self._cancel.cancelled:
                raise _CancelledRead()  # events queued before the cancel are not spoken
            started = time.monotonic()
            try:
                kind, value = self._queue.get(timeout=guard)
            except queue.Empty:
                raise _Stalled(f"no data for {guard:.0f} s") from None
            finally:
                budget.spend(time.monotonic() - started)
            if kind == "event":
                yield value
            elif kind == "end":
                return
            elif kind == "error":
                raise value
            else:
                raise _CancelledRead()

    def close(self) -> None:
        self._unregister()
        self._shut()

    def _cancelled(self) -> None:
        self._queue.put(("cancelled", None))
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stream = self._stream
        if stream is not None:
            _close_quietly(stream)

    def _run(self) -> None:
        try:
            stream = self._client.responses.create(**self._params)
        except Exception as exc:  # handed to the turn, which classifies it
            self._queue.put(("error", exc))
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._stream = stream
        if closed:
            _close_quietly(stream)
            return
        try:
            for event in stream:
                if self._closed:
                    return
                self._queue.put(("event", event))
            self._queue.put(("end", None))
        except Exception as exc:  # handed to the turn (after a cancel nobody reads it)
            if not self._closed:
                self._queue.put(("error", exc))
        finally:
            _close_quietly(stream)


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # closing a half-read socket may complain; the request is over either way
        log.debug("closing the stream failed", exc_info=True)
