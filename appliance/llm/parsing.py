"""The Responses stream's events, read into what the turn acts on: text, a finished message, the outcome.

Function calls are put together from ``output_item.added``, argument deltas and ``output_item.done``; the
finished response's own output list wins when it carries one. The hosted web search's call is the server's
own: its item and progress events are read as :class:`SearchStarted` / :class:`SearchDone` (it is owed no
output), and the message's ``url_citation`` annotations are not needed (the citations are inline in the text,
where :mod:`.speakable` leaves them unsaid). Pure: no I/O, no clock; the events are the
SDK's parsed objects over HTTP, :class:`~appliance.llm.openai_socket.Event` s over the WebSocket (the same
attributes). Text enters the appliance here, so this is where
the model's text and call arguments are made safe (:mod:`appliance.text.clean`: no lone surrogate, no control
character reaches speech, the events or the next request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.errors import ApplianceError, ErrorKind
from appliance.llm.failures import classify_failure
from appliance.text.clean import clean_json_text, clean_text
from appliance.tools.tool import FunctionCall

#: Longest function-call arguments accepted (a spoken appliance's tools take a few words; a megabyte is a
#: runaway, and holding it would only cost memory).
MAX_ARGUMENT_CHARS = 64_000


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class MessageDone:
    """A message item ended (text before tool calls: the filler "let me look" is whole now)."""


@dataclass(frozen=True)
class SearchStarted:
    """A hosted web search call is in progress (its item, or one of its progress events)."""

    call_id: str


@dataclass(frozen=True)
class SearchDone:
    call_id: str
    query: str
    status: str
    """"completed", or "failed" / "incomplete"."""


@dataclass(frozen=True)
class Finished:
    response_id: str
    calls: list[FunctionCall]
    incomplete: str | None = None
    """Why the response is incomplete (``max_output_tokens``...), None when it completed."""


@dataclass(frozen=True)
class Failed:
    error: ApplianceError


Parsed = TextDelta | MessageDone | SearchStarted | SearchDone | Finished | Failed

_SEARCH_PROGRESS = ("response.web_search_call.in_progress", "response.web_search_call.searching")
_SEARCH_CALL = "web_search_call"


class EventParser:
    def __init__(self, stage: str = "assistant", max_argument_chars: int = MAX_ARGUMENT_CHARS) -> None:
        self._stage = stage
        self._max_arguments = max_argument_chars
        self._calls: dict[str, _Assembling] = {}

    def feed(self, event: Any) -> Parsed | None:
        kind = getattr(event, "type", "")
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            text = clean_text(event.delta or "")
            return TextDelta(text) if text else None
        if kind == "response.output_item.added":
            if getattr(event.item, "type", "") == _SEARCH_CALL:
                return SearchStarted(str(event.item.id))
            self._item(event.item, event.output_index, done=False)
        elif kind in _SEARCH_PROGRESS:
            return SearchStarted(str(event.item_id))
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(event.item_id)
            if call is not None and not call.done:
                call.parts.append(event.delta)
                call.size += len(event.delta)
                if call.size > self._max_arguments:
                    return self._too_long(call.name)
        elif kind == "response.function_call_arguments.done":
            call = self._calls.get(event.item_id)
            if call is not None:
                call.parts, call.size = [event.arguments], len(event.arguments)
        elif kind == "response.output_item.done":
            if getattr(event.item, "type", "") == "message":
                return MessageDone()
            if getattr(event.item, "type", "") == _SEARCH_CALL:
                return _search_done(event.item)
            self._item(event.item, event.output_index, done=True)
        elif kind in ("response.completed", "response.incomplete"):
            response = event.response
            reason = _incomplete_reason(response) if kind == "response.incomplete" else None
            return Finished(response.id, self._final(response), reason)
        elif kind == "response.failed":
            error = getattr(event.response, "error", None)
            return Failed(classify_failure(getattr(error, "code", None), getattr(error, "message", None), self._stage))
        elif kind == "error":  # over HTTP the code is on the event; over the WebSocket, in its ``error``
            nested = getattr(event, "error", None)
            code = getattr(event, "code", None) or getattr(nested, "code", None)
            message = getattr(event, "message", None) or getattr(nested, "message", None)
            return Failed(classify_failure(code, message, self._stage))
        return None

    def _item(self, item: Any, index: int, *, done: bool) -> None:
        if getattr(item, "type", "") != "function_call":
            return
        key = item.id or item.call_id
        arguments = item.arguments or ""
        self._calls[key] = _Assembling(index, item.call_id, item.name, [arguments], len(arguments), done)

    def _too_long(self, name: str) -> Failed:
        return Failed(
            ApplianceError(
                ErrorKind.RESPONSE_FAILED,
                f"the arguments of a call to {name} ran past {self._max_arguments} characters",
                stage=self._stage,
                retryable=False,
            )
        )

    def _final(self, response: Any) -> list[FunctionCall]:
        output = getattr(response, "output", None) or []
        listed = [item for item in output if getattr(item, "type", "") == "function_call"]
        if listed:
            return [_call(item.call_id, item.name, item.arguments or "") for item in listed]
        ordered = sorted(self._calls.values(), key=lambda c: c.index)
        return [_call(c.call_id, c.name, "".join(c.parts)) for c in ordered if c.call_id]


def _search_done(item: Any) -> SearchDone:
    """The finished search, its query (or queries) clean for the events."""
    action = item.action
    queries = [action.query, *(action.queries or [])] if action is not None and action.type == "search" else []
    query = "; ".join(dict.fromkeys(clean_text(q) for q in queries if isinstance(q, str) and q.strip()))
    return SearchDone(str(item.id), query, str(item.status or "completed"))


def _call(call_id: str, name: str, arguments: str) -> FunctionCall:
    """The call as the tools see it: its name and arguments clean (escapes in the JSON included); the id is the
    server's own and goes back to it as it came."""
    return FunctionCall(call_id, clean_text(name), clean_json_text(arguments))


@dataclass
class _Assembling:
    index: int
    call_id: str
    name: str
    parts: list[str]
    size: int
    done: bool


def _incomplete_reason(response: Any) -> str:
    details = getattr(response, "incomplete_details", None)
    return str(getattr(details, "reason", "") or "unknown")
