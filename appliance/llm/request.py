"""One streamed request of a turn: its parameters, its events read into spoken pieces, its failures classified."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Generator
from typing import Any

from appliance.config.settings import AssistantSettings
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Info, ToolCall
from appliance.llm.budget import Budget
from appliance.llm.failures import classify_openai_error, expected, is_previous_response_missing, retry_after
from appliance.llm.parsing import EventParser, Failed, Finished, MessageDone, SearchDone, SearchStarted, TextDelta
from appliance.llm.retrying import Failure
from appliance.llm.search import WEB_SEARCH, web_search_tool
from appliance.llm.spoken import TurnState as _Turn
from appliance.llm.stream import TICK, CancelledRead, OutOfTime, Stalled, StreamReader
from appliance.llm.transport import HttpStreams, SocketStreams
from appliance.text.piece import Piece
from appliance.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

#: The stage named on the assistant's errors.
STAGE = "assistant"
_SEARCH_STAGE = "web_search"
#: Longer call arguments (or search queries) are cut to this many characters on the turn's events.
MAX_EVENT_ARGUMENTS = 1000


class Requests:
    """Sends a turn's requests, one at a time, and streams each answer (the retries are the caller's)."""

    def __init__(self, settings: AssistantSettings, tools: ToolRegistry, streams: HttpStreams | SocketStreams) -> None:
        self._settings = settings
        self._tools = tools
        self._streams = streams
        self.queue_high_water = 0
        """The most stream events ever waiting for the turn (bounded by the reader's queue capacity)."""

    def params(self, turn: _Turn, previous: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
        s = self._settings
        left = turn.budget.left()
        if left <= 0.05:
            raise Failure(_out_of_time(turn.budget))
        params: dict[str, Any] = {
            "model": s.model,
            "instructions": s.instructions,
            "input": items,
            "stream": True,
            "store": True,
            "max_output_tokens": s.max_output_tokens,
            "truncation": "auto",
            "timeout": (min(s.connect_timeout, left), min(s.read_timeout, left)),  # connect, read: over HTTP only
        }
        specs: list[dict[str, Any]] = list(self._tools.specs())
        search = web_search_tool(s)
        if search is not None:
            specs.append(search)
        if specs:
            params["tools"] = specs
        if previous is not None:
            params["previous_response_id"] = previous
        if s.reasoning_effort:
            params["reasoning"] = {"effort": s.reasoning_effort}
        return params

    def attempt(
        self, turn: _Turn, previous: str | None, items: list[dict[str, Any]]
    ) -> Generator[Piece, None, Finished | None]:
        """One request, streamed. Returns the outcome, None when cancelled or capped; raises Failure."""
        params = self.params(turn, previous, items)
        turn.mark("request_start")
        guard = self._settings.connect_timeout + self._settings.read_timeout + 2.0
        reader = StreamReader(lambda: self._streams.open(params), turn.cancel)
        parser = EventParser(STAGE)
        turn.answer.restart()
        yielded = False
        try:
            for event in reader.events(turn.budget, guard, wake=functools.partial(_filler_due, turn)):
                if event is TICK:
                    self._filler(turn)
                    continue
                parsed = parser.feed(event)
                if parsed is None:
                    continue
                if isinstance(parsed, TextDelta):
                    turn.mark("first_delta")
                    turn.searches.text = True
                    pieces = turn.answer.feed(parsed.text)
                elif isinstance(parsed, MessageDone):
                    pieces = turn.answer.flush()  # a filler ("let me look") before the tools
                elif isinstance(parsed, SearchStarted):
                    self._search_started(turn, parsed)
                    continue
                elif isinstance(parsed, SearchDone):
                    self._search_done(turn, parsed)
                    continue
                elif isinstance(parsed, Finished):
                    yielded = (yield from turn.say(turn.answer.flush())) or yielded
                    if parsed.incomplete is not None:
                        log.info("assistant: response incomplete (%s)", parsed.incomplete)
                    return parsed
                else:
                    assert isinstance(parsed, Failed)
                    raise Failure(parsed.error, yielded=yielded)
                yielded = (yield from turn.say(pieces)) or yielded
                if turn.answer.capped:
                    turn.emit(
                        Info(
                            "answer_capped",
                            f"the answer reached {len(turn.answer.said)} characters "
                            f"(assistant.max_answer_chars = {turn.answer.max_chars})",
                        )
                    )
                    return None
            raise Failure(
                ApplianceError(
                    ErrorKind.CONNECTION,
                    "the stream ended before the response was complete",
                    stage=STAGE,
                    retryable=True,
                ),
                yielded=yielded,
            )
        except CancelledRead:
            return None
        except Failure:
            raise
        except OutOfTime:
            if turn.cancel.cancelled:
                return None
            raise Failure(_searching(turn, _out_of_time(turn.budget)), yielded=yielded) from None
        except Stalled as exc:
            if turn.cancel.cancelled:
                return None
            raise Failure(
                _searching(
                    turn,
                    ApplianceError(ErrorKind.TIMEOUT, f"the stream stalled ({exc})", stage=STAGE, retryable=True),
                ),
                yielded=yielded,
            ) from exc
        except Exception as exc:  # the SDK's errors, and anything unexpected from parsing the stream
            if turn.cancel.cancelled:
                return None
            if not expected(exc):
                log.exception("assistant: unexpected error while streaming")
            raise Failure(
                _searching(turn, classify_openai_error(exc, STAGE)),
                yielded=yielded,
                retry_after=retry_after(exc),
                previous_missing=is_previous_response_missing(exc),
            ) from exc
        finally:
            reader.close()
            self.queue_high_water = max(self.queue_high_water, reader.queue.high_water)

    # --- the hosted web search

    # --- the hosted web search

    def _search_started(self, turn: _Turn, started: SearchStarted) -> None:
        if turn.searches.start(started.call_id, time.monotonic()):
            turn.mark("search_start")
            turn.emit(Info("web_search", "searching"))

    def _search_done(self, turn: _Turn, done: SearchDone) -> None:
        ms = turn.searches.finish(done.call_id, time.monotonic())
        turn.mark("search_done")
        query = done.query if len(done.query) <= MAX_EVENT_ARGUMENTS else done.query[:MAX_EVENT_ARGUMENTS] + "…"
        ok = done.status == "completed"
        turn.emit(ToolCall(WEB_SEARCH, done.call_id, json.dumps({"query": query}), ok, ms or 0.0))
        if not ok:
            log.info("assistant: the web search ended %s", done.status)

    def _filler(self, turn: _Turn) -> None:
        """The search runs and nothing was said: the turn plays its filler (once). A fault in it is logged;
        the answer goes on."""
        turn.searches.filler_played = True
        if turn.filler is None or turn.cancel.cancelled:
            return
        try:
            turn.filler(turn.cancel)
        except Exception:
            log.exception("assistant: the filler phrase failed")


def _filler_due(turn: _Turn) -> float | None:
    """Seconds until the turn's filler is due (:meth:`Searches.filler_due_in`), counted from the question."""
    budget = turn.budget
    return turn.searches.filler_due_in(budget.seconds - budget.left(), turn.yielded)


def _searching(turn: _Turn, error: ApplianceError) -> ApplianceError:
    """A timeout while the turn waits on a web search is the search's (the turn says so, not "offline")."""
    if error.kind is not ErrorKind.TIMEOUT or not turn.searches.waiting:
        return error
    return ApplianceError(
        ErrorKind.TIMEOUT,
        f"the web search gave no answer: {error.message}",
        stage=_SEARCH_STAGE,
        retryable=error.retryable,
    )


def _out_of_time(budget: Budget) -> ApplianceError:
    return ApplianceError(ErrorKind.TIMEOUT, f"no answer within {budget.seconds:g} s", stage=STAGE)
