"""The assistant on the OpenAI Responses API: one streamed turn and its tool loop.

``respond(text, cancel, emit)`` is a generator of speakable pieces: sentences (or, with ``fragments=True``,
a few words at a time for a speech engine that takes streamed text). Each request is streamed; function
calls are run in parallel (:mod:`appliance.tools.runner`) and answered, every call exactly once, with
``function_call_output`` items in the next request (``previous_response_id``; instructions and tools are
sent again each time), up to ``max_tool_rounds``. The pieces, one job per module:

- :mod:`.conversation`: where the conversation stands between turns (anchor, owed outputs, resets);
- :mod:`.request`: one streamed request: its parameters, its events read into spoken pieces, its failures;
- :mod:`.stream`: the worker thread reading a stream into a bounded queue;
- :mod:`.parsing`: the stream's events read into text, a finished message, the outcome (with its calls);
- :mod:`.retrying`: the retry loop (the SDK's own retries are off: it would sleep through a Retry-After of
  up to two minutes where a cancel cannot reach it);
- :mod:`.answer`: text deltas to speakable sentences or fragments, and the cap on an answer's length;
- :mod:`.budget`: the model's share of the turn's deadline.

The hosted web search (:mod:`.search`, ``assistant.web_search``) is offered with the function tools; OpenAI
runs it inside the response, which streams its progress (a ``tool_call`` event named ``web_search`` with its
query when it ends; ``llm_search_start`` / ``llm_search_done`` on the turn's timings). While it runs and nothing
was said, the turn's filler plays once, ``assistant.search_filler_seconds`` after the question.

The turn's deadline bounds everything the assistant waits for: the time to the first text, every gap
between deltas (a trickle cannot keep a turn alive), slowly streamed call arguments, the tools (their
timeout is capped by what is left) and retries. The time the consumer holds a piece (speaking it) does not
count. When the deadline runs out before anything was said, ApplianceError(TIMEOUT) is raised; after, the
answer ends with a short apology.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Error, Info, ToolCall
from appliance.llm.answer import Answer
from appliance.llm.budget import Budget
from appliance.llm.conversation import Conversation, Owed
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.llm.parsing import Finished
from appliance.llm.request import MAX_EVENT_ARGUMENTS, STAGE, Requests
from appliance.llm.retrying import PreviousMissing, retrying
from appliance.llm.search import Searches
from appliance.llm.spoken import APOLOGIES as APOLOGIES
from appliance.llm.spoken import LOST_CONNECTION as LOST_CONNECTION
from appliance.llm.spoken import SOMETHING_WENT_WRONG as SOMETHING_WENT_WRONG
from appliance.llm.spoken import TOO_MANY_ROUNDS as TOO_MANY_ROUNDS
from appliance.llm.spoken import TurnState as _Turn
from appliance.llm.spoken import apology as _apology
from appliance.llm.transport import SocketStreams, make_streams
from appliance.ports import Emit, ToolContext
from appliance.retry import RetryPolicy
from appliance.text.piece import Piece
from appliance.timings import TurnTimings
from appliance.tools.confirm import CONFIRM_SECONDS, NOT_CONFIRMED_OUTPUT, Pending
from appliance.tools.registry import ToolRegistry
from appliance.tools.runner import CANCELLED_OUTPUT, CallResult, ToolRunner
from appliance.tools.tool import Tool

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

#: Output for calls made past the round limit (they are answered, never run).
NOT_RUN_OUTPUT = "Not run: too many tool calls for one request."

__all__ = [
    "APOLOGIES",
    "CANCELLED_OUTPUT",
    "LOST_CONNECTION",
    "NOT_RUN_OUTPUT",
    "SOMETHING_WENT_WRONG",
    "TOO_MANY_ROUNDS",
    "ResponsesAssistant",
]

_TOOL_STAGE = "tool"


class ResponsesAssistant:
    """ports.Assistant on the Responses API with tools. Thread-safe ``reset()``; one turn at a time."""

    def __init__(
        self,
        settings: AssistantSettings,
        secrets: Secrets,
        tools: ToolRegistry,
        make_context: Callable[[CancelToken, Emit], ToolContext],
        *,
        client: openai.OpenAI | None = None,
        endpoint: OpenAiEndpoint | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_policy: RetryPolicy | None = None,
        max_answer_chars: int | None = None,
        transport: str | None = None,
    ) -> None:
        """``clock`` measures conversation idleness (tests pass a fake one); turn timings and deadlines
        always use ``time.monotonic``. ``client`` (the SDK's, for HTTP) defaults to one
        :func:`~appliance.llm.client.make_openai_client` makes when HTTP is first needed; either way its own
        retries are turned off for these requests. ``endpoint`` (the WebSocket's address and key) defaults to
        the secrets'. ``max_answer_chars`` defaults to the setting
        ``assistant.max_answer_chars``, ``transport`` to ``assistant.transport``: "websocket" or "http",
        anything else is a SettingsError; a warm socket unused for ``assistant.transport_idle_seconds`` is
        closed."""
        self._max_answer_chars = max_answer_chars if max_answer_chars is not None else settings.max_answer_chars
        self._settings = settings
        self._secrets = secrets
        self._tools = tools
        self._runner = ToolRunner(tools, make_context, needs_confirmation=self._needs_confirmation)
        self._clock = clock
        self._confirm_lock = threading.Lock()
        self._pending: _Asked | None = None
        """The call asked about in the last turn, until the next turn settles it."""
        self._confirmed: _Asked | None = None
        """The call the user just confirmed: the next respond() runs it first."""
        if client is None and not secrets.openai_api_key:  # as the SDK client's maker says, but now, at start
            raise ApplianceError(ErrorKind.CONFIG, "OPENAI_API_KEY is not set", stage="assistant")
        self.transport = transport if transport is not None else settings.transport
        self._emit: Emit | None = None
        self._streams = make_streams(
            functools.partial(_sdk_client, settings, secrets, client),
            endpoint if endpoint is not None else OpenAiEndpoint.from_secrets(secrets),
            self.transport,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            idle_close=settings.transport_idle_seconds,
            on_fallback=self._fell_back,
        )
        self._preparing: threading.Thread | None = None
        self._prepare_lock = threading.Lock()
        self._policy = retry_policy or RetryPolicy(
            max_retries=settings.max_retries, deadline=settings.deadline, rng=random.Random()
        )
        self._conversation = Conversation(settings.conversation_idle_seconds, clock, CANCELLED_OUTPUT)
        self._requests = Requests(settings, tools, self._streams)

    # --- ports.Assistant

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
        """The answer's pieces as they stream in. ``deadline``: the turn's (else ``assistant.deadline``
        from now). ``fragments``: :class:`~appliance.text.piece.Piece` s of a few words instead of
        sentences (put together they are the same text, sentences joined by spaces). ``filler``: plays the
        turn's filler phrase; called (at most once, between pieces, so it never overlaps the answer) when a web
        search runs and nothing has been said ``assistant.search_filler_seconds`` after the question."""
        self._emit = emit
        budget = Budget(deadline if deadline is not None else Deadline(self._settings.deadline))
        answer = Answer(fragments=fragments, max_chars=self._max_answer_chars)
        searches = Searches(self._settings.search_filler_seconds if filler is not None else 0.0)
        return self._turn(_Turn(text, cancel, emit, timings, budget, answer, filler=filler, searches=searches))

    def reset(self) -> None:
        self.settle_confirmation(False)
        self._conversation.reset()

    def remember(self, question: str, answer: str) -> None:
        self._conversation.remember(question, answer)

    def pending_confirmation(self) -> str | None:
        """The question asked about a call that waits for the user's yes, if any."""
        with self._confirm_lock:
            return self._pending.pending.question if self._pending is not None else None

    def settle_confirmation(self, yes: bool) -> None:
        """The user answered the question (``yes``: a clear yes, heard in time), or a turn began without an answer
        to it. On yes the next respond() runs the call; otherwise it is dropped, and the model, which was told
        the call is not done, is not told otherwise. Never runs anything itself."""
        with self._confirm_lock:
            asked, self._pending = self._pending, None
            self._confirmed = None
            if asked is None:
                return
            if yes and self._clock() - asked.at <= CONFIRM_SECONDS:
                self._confirmed = asked

    def warm(self) -> None:
        """Get the first request's way ready: over the WebSocket, open it; over HTTP, load the SDK (over a second
        on a Pi), so the first turn's deadline is not spent importing."""
        self._streams.warm()

    def prepare(self) -> threading.Thread | None:
        """Open the WebSocket in the background (call it on the wake word: the handshake then overlaps the
        user's speech). Returns at once; never raises; a no-op over HTTP, with the socket already open, or
        while an earlier prepare() is still connecting. The thread it started, if any (tests join it)."""
        if not isinstance(self._streams, SocketStreams) or self._streams.connected:
            return None
        with self._prepare_lock:
            if self._preparing is not None and self._preparing.is_alive():
                return None
            self._preparing = threading.Thread(target=self._streams.warm, name="assistant-prepare", daemon=True)
            self._preparing.start()
            return self._preparing

    def close(self) -> None:
        """Close the warm connection, if any."""
        self._streams.close()

    def _fell_back(self, why: str) -> None:
        emit = self._emit
        if emit is not None:
            emit(Info("transport_fallback", self._secrets.redact(f"the WebSocket failed ({why}); using HTTP")))

    # --- for the control socket and tests

    @property
    def queue_high_water(self) -> int:
        """The most stream events ever waiting for the turn (bounded by the reader's queue capacity)."""
        return self._requests.queue_high_water

    @property
    def previous_response_id(self) -> str | None:
        """Where the next turn continues from (the owed response, or the last complete one)."""
        return self._conversation.previous_response_id

    # --- the turn

    def _turn(self, turn: _Turn) -> Generator[Piece, None, None]:
        self._run_confirmed(turn)
        start = self._conversation.begin()
        if start.idle is not None:
            turn.emit(Info("conversation_expired", f"no turn for {start.idle:.0f} s; starting afresh"))
        previous, generation = start.previous, start.generation
        items = [*start.carried, _user_message(turn.text)]
        rounds = 0
        restarted = False
        try:
            while not turn.cancel.cancelled:
                try:
                    outcome = yield from self._request(turn, previous, items)
                except PreviousMissing:
                    if restarted or previous is None:
                        raise ApplianceError(
                            ErrorKind.BAD_REQUEST, "the server does not know the conversation", stage=STAGE
                        ) from None
                    restarted = True
                    self._conversation.forget(generation)
                    turn.emit(
                        Info(
                            "conversation_restarted", "the server no longer knew the previous response; starting afresh"
                        )
                    )
                    previous, items, rounds = None, [_user_message(turn.text)], 0
                    continue
                if outcome is None:
                    return  # cancelled, capped, or the answer already ended with an apology
                if not outcome.calls:
                    self._conversation.answered(generation, outcome.response_id)
                    return
                rounds += 1
                owed = Owed(outcome.response_id, list(outcome.calls))
                if rounds > self._settings.max_tool_rounds:
                    owed.outputs = {call.call_id: NOT_RUN_OUTPUT for call in outcome.calls}
                    self._conversation.owe(generation, owed)
                    turn.emit(
                        Error(
                            ErrorKind.TOO_MANY_ROUNDS,
                            STAGE,
                            f"the model still called tools after {self._settings.max_tool_rounds} rounds",
                        )
                    )
                    yield from turn.say(turn.answer.apology(TOO_MANY_ROUNDS))
                    return
                self._conversation.owe(generation, owed)
                ran = self._runner.run(
                    owed.calls,
                    turn.cancel,
                    turn.emit,
                    timeout=turn.budget.cap(self._settings.tool_timeout),
                    on_result=functools.partial(self._answer, turn, owed),
                )
                if turn.cancel.cancelled or ran.cancelled or ran.ends_turn:
                    return  # the outputs stay owed; the next turn sends them
                if ran.pending is not None:
                    yield from self._ask(turn, owed, ran.pending)
                    return
                previous, items = outcome.response_id, owed.items(CANCELLED_OUTPUT)
        finally:
            turn.mark("done")
            self._conversation.touch()

    # --- one request, with its retries

    def _request(
        self, turn: _Turn, previous: str | None, items: list[dict[str, Any]]
    ) -> Generator[Piece, None, Finished | None]:
        return (
            yield from retrying(
                lambda: self._requests.attempt(turn, previous, items),
                has_previous=previous is not None,
                policy=self._policy,
                budget=turn.budget,
                cancel=turn.cancel,
                emit=turn.emit,
                redact=self._secrets.redact,
                said_anything=lambda: turn.yielded,
                apologise=lambda kind: turn.say(turn.answer.apology(_apology(kind))),
            )
        )

    # --- tools

    def _needs_confirmation(self, found: Tool) -> bool:
        return found.confirm or found.name in self._settings.confirm

    def _ask(self, turn: _Turn, owed: Owed, pending: Pending) -> Generator[Piece, None, None]:
        """A call needs the user's yes: it is owed as not done (what the model hears unless the user confirms),
        and the question ends the answer; the turn then listens for the answer without the wake word."""
        self._conversation.record(owed, pending.call.call_id, NOT_CONFIRMED_OUTPUT)
        with self._confirm_lock:
            self._pending = _Asked(pending, owed, self._clock())
        turn.emit(Info("confirmation_asked", f"{pending.call.name}: {pending.question}"))
        yield from turn.say(turn.answer.apology(pending.question))  # a fixed sentence of the appliance

    def _run_confirmed(self, turn: _Turn) -> None:
        """The user said yes: the call runs now (bounded by the tool timeout and the turn's deadline, stopped by
        the turn's cancel), and its output replaces "not done" in what the next request sends."""
        with self._confirm_lock:
            asked, self._confirmed = self._confirmed, None
        if asked is None:
            return
        if self._conversation.previous_response_id != asked.owed.response_id:
            return  # the conversation was reset or went on meanwhile: nothing to tell, nothing is run
        call = asked.pending.call
        self._conversation.record(asked.owed, call.call_id, CANCELLED_OUTPUT)
        turn.emit(Info("confirmation_accepted", call.name))
        self._runner.run_confirmed(
            asked.pending,
            turn.cancel,
            turn.emit,
            timeout=turn.budget.cap(self._settings.tool_timeout),
            on_result=functools.partial(self._answer, turn, asked.owed),
        )

    def _answer(self, turn: _Turn, owed: Owed, result: CallResult) -> None:
        call = result.call
        self._conversation.record(owed, call.call_id, result.output)
        arguments = (
            call.arguments if len(call.arguments) <= MAX_EVENT_ARGUMENTS else call.arguments[:MAX_EVENT_ARGUMENTS] + "…"
        )
        turn.emit(ToolCall(call.name, call.call_id, arguments, result.ok, round(result.ms, 1)))
        if result.kind is not None:
            message = self._secrets.redact(result.message)
            log.warning("tool %s: %s", call.name, message)
            turn.emit(Error(result.kind, _TOOL_STAGE, message))


# --- the pieces --------------------------------------------------------------------------------------------


class _Asked:
    """A pending call, the response it is owed to, and when the user was asked."""

    def __init__(self, pending: Pending, owed: Owed, at: float) -> None:
        self.pending = pending
        self.owed = owed
        self.at = at


def _user_message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _sdk_client(settings: AssistantSettings, secrets: Secrets, given: openai.OpenAI | None) -> openai.OpenAI:
    """The SDK client of the HTTP path (made when first needed), its own retries off: the turn retries."""
    from appliance.llm.client import make_openai_client

    base = given if given is not None else make_openai_client(settings, secrets, max_retries=0)
    return base.with_options(max_retries=0)
