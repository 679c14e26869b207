"""The fake cloud's Responses API route: a conversation-aware server answering from scripted replies.

:class:`ResponsesServer` is a handler for the fake cloud's ``responses`` route that answers like the
real API does about the conversation: it remembers the responses it completed and the function calls
each one left open, and refuses (400) a request whose ``previous_response_id`` it does not know, one
that leaves a call of that response without a ``function_call_output``, or one that answers a call
twice or a call that does not exist. So a test that leaves an orphaned call fails the way production would.
A hosted web search (``web_search_call``) is the server's own call: it is owed no output, and answering it
is refused like any unknown call. The hosted web search tool is checked as the API checks it (its type, an
approximate ``user_location`` of known string fields, a two-letter country, not with reasoning effort
"minimal"), and a scripted web search is only played to a request that offers the tool.

The scripts it plays are built by :class:`Wire` (:mod:`standin.responses_wire`); they are importable
from here too, as the tests and scripts take both from one place.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from standin.cloud import FakeCloud, Reply, Request, Status
from standin.function_tools import function_tool_problem
from standin.responses_events import Script
from standin.responses_wire import MODEL, Runaway, Wire

__all__ = ["MODEL", "ResponsesServer", "Runaway", "Script", "Wire"]


@dataclass
class _Stored:
    calls: list[str]
    previous: str | None


class ResponsesServer:
    """The ``responses`` route with the real API's bookkeeping of conversations and function calls.

    ``then(...)`` queues replies: a :class:`Script` (streamed; its response is stored once the stream
    gets as far as ``response.completed``) or any fake-cloud Reply (Status, Stall, Reset). A request that
    breaks the conversation rules gets a 400 (recorded in ``rejected`` with its 1-based number among this
    server's requests) and does not consume a reply. ``requests`` holds only the requests this server
    answered, so one fake cloud can serve several tests in turn."""

    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud
        self._lock = threading.Lock()
        self._queue: deque[Script | Reply] = deque()
        self._stored: dict[str, _Stored] = {}
        self.rejected: list[tuple[int, str]] = []
        self._requests: list[Request] = []
        cloud.default("responses", self)

    def then(self, *replies: Script | Reply) -> ResponsesServer:
        with self._lock:
            self._queue.extend(replies)
        return self

    def forget(self, response_id: str) -> None:
        """Drop a stored response (as the API does after 30 days, or when it was deleted)."""
        with self._lock:
            self._stored.pop(response_id, None)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests]

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            number = len(self._requests)
        reply = self.answer(request.json, number)
        return reply.reply() if isinstance(reply, Script) else reply

    def answer(self, body: dict[str, Any], number: int) -> Script | Reply:
        """The reply to one request (``number``: its place, for ``rejected``), whatever carries it (HTTP here,
        the WebSocket in :mod:`standin.responses_ws`)."""
        problem = self._check(body)
        if problem is not None:
            with self._lock:
                self.rejected.append((number, problem[1]))
            return Status(400, problem[1], code=problem[0], error_type="invalid_request_error")
        with self._lock:
            if not self._queue:
                return Status(500, "fake cloud: nothing scripted for this request")
            if _searches(self._queue[0]) and not _offers_web_search(body):
                return Status(500, "fake cloud: a web search is scripted but the request offers no web_search tool")
            reply = self._queue.popleft()
            if isinstance(reply, Script) and reply.completes:
                self._stored[reply.response_id] = _Stored(list(reply.call_ids), body.get("previous_response_id"))
        return reply

    def _check(self, body: dict[str, Any]) -> tuple[str | None, str] | None:
        tools = body.get("tools") or []
        for number, tool in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(tool, dict) and tool.get("type") in _WEB_SEARCH:
                problem = _web_search_problem(tool, number)
                if problem is not None:
                    return None, problem
                if (body.get("reasoning") or {}).get("effort") == "minimal":
                    return None, "The following tools cannot be used with reasoning.effort 'minimal': web_search."
            if isinstance(tool, dict) and tool.get("type") == "function":
                problem = function_tool_problem(tool, number)
                if problem is not None:
                    return None, problem
        previous = body.get("previous_response_id")
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        outputs = [i["call_id"] for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        with self._lock:
            if previous is not None and previous not in self._stored:
                return "previous_response_not_found", f"Previous response with id '{previous}' not found."
            open_calls = self._stored[previous].calls if previous is not None else []
        for call_id in open_calls:
            if call_id not in outputs:
                return None, f"No tool output found for function call {call_id}."
        for call_id in outputs:
            if call_id not in open_calls:
                return None, f"No tool call found for function call output with call_id {call_id}."
        if len(set(outputs)) != len(outputs):
            return None, "Duplicate function call output."
        return None


_WEB_SEARCH = ("web_search", "web_search_2025_08_26")
_LOCATION_FIELDS = ("city", "region", "country", "timezone")


def _web_search_problem(tool: dict[str, Any], number: int) -> str | None:
    """What the API would refuse in a hosted web search tool (checked against the SDK's ``WebSearchTool``)."""
    where = f"tools[{number}]"
    unknown = set(tool) - {"type", "user_location", "filters", "search_context_size", "external_web_access"}
    if unknown:
        return f"Unknown parameter: '{where}.{sorted(unknown)[0]}'."
    location = tool.get("user_location")
    if location is None:
        return None
    if not isinstance(location, dict) or location.get("type") != "approximate":
        return f"Invalid value for '{where}.user_location.type': expected 'approximate'."
    for key, value in location.items():
        if key == "type":
            continue
        if key not in _LOCATION_FIELDS:
            return f"Unknown parameter: '{where}.user_location.{key}'."
        if not isinstance(value, str) or not value.strip():
            return f"Invalid value for '{where}.user_location.{key}': expected a non-empty string."
    country = location.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha() and country.isupper()):
        return f"Invalid value for '{where}.user_location.country': expected a two-letter ISO country code."
    return None


def _offers_web_search(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    return any(isinstance(t, dict) and t.get("type") in _WEB_SEARCH for t in tools)


def _searches(reply: Script | Reply) -> bool:
    return isinstance(reply, Script) and any(
        e.get("type") == "response.output_item.added" and (e.get("item") or {}).get("type") == "web_search_call"
        for e in reply.events
    )
