"""The fake cloud's Responses API route: a conversation-aware server answering from scripted replies.

:class:`ResponsesServer` is a handler for the fake cloud's ``responses`` route that answers like the
real API does about the conversation: it remembers the responses it completed and the function calls
each one left open, and refuses (400) a request whose ``previous_response_id`` it does not know, one
that leaves a call of that response without a ``function_call_output``, or one that answers a call
twice or a call that does not exist. So a test that leaves an orphaned call fails the way production would.

The scripts it plays are built by :class:`Wire` (:mod:`appliance.sim.responses_wire`); they are importable
from here too, as the tests and scripts take both from one place.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from appliance.sim.cloud import FakeCloud, Reply, Request, Status
from appliance.sim.responses_wire import MODEL, Runaway, Script, Wire

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
        the WebSocket in :mod:`appliance.sim.responses_ws`)."""
        problem = self._check(body)
        if problem is not None:
            with self._lock:
                self.rejected.append((number, problem[1]))
            return Status(400, problem[1], code=problem[0], error_type="invalid_request_error")
        with self._lock:
            if not self._queue:
                return Status(500, "fake cloud: nothing scripted for this request")
            reply = self._queue.popleft()
            if isinstance(reply, Script) and reply.completes:
                self._stored[reply.response_id] = _Stored(list(reply.call_ids), body.get("previous_response_id"))
        return reply

    def _check(self, body: dict[str, Any]) -> tuple[str | None, str] | None:
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
