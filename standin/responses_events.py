"""One streamed response of the Responses API: its events built in order (ids, sequence numbers, the
response object) by :class:`Builder`, and the :class:`Script` that says how the fake server delivers them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from standin.cloud import Reply, Stream, sse


class Ids(Protocol):
    """Where a builder takes its ids and model name (:class:`~standin.responses_wire.Wire`)."""

    model: str

    def new_id(self, prefix: str) -> str: ...


@dataclass
class Script:
    """One streamed response: its events, its ids, and how the fake server should deliver it."""

    events: list[dict[str, Any]]
    response_id: str
    call_ids: list[str] = field(default_factory=list)
    delay: float = 0.0
    """Seconds between events."""
    ttfb: float = 0.0
    disconnect_after: int | None = None
    """Cut the connection (RST) after this many events."""
    stall_after: int | None = None
    """Send nothing more after this many events (the client's read timeout must fire)."""
    stall_seconds: float = 30.0
    pauses: dict[int, float] = field(default_factory=dict)
    """Extra seconds before the event at that index (a web search's time between ``searching`` and
    ``completed``)."""

    def reply(self) -> Reply:
        kwargs: dict[str, Any] = {"delay": self.delay, "ttfb": self.ttfb}
        if self.disconnect_after is not None:
            kwargs["disconnect_after"] = self.disconnect_after
        if self.stall_after is not None:
            kwargs.update(stall_after=self.stall_after, stall_seconds=self.stall_seconds)
        if not self.pauses:
            return sse(self.events, **kwargs)
        return Stream(self._paced(), content_type="text/event-stream; charset=utf-8", **kwargs)

    def _paced(self) -> Iterator[bytes]:
        for index, event in enumerate(self.events):
            pause = self.pauses.get(index, 0.0)
            if pause > 0:
                time.sleep(pause)
            yield event_bytes(event)

    def delivered(self) -> list[dict[str, Any]]:
        """The events the client will actually receive."""
        cut = [n for n in (self.disconnect_after, self.stall_after) if n is not None]
        return self.events[: min(cut)] if cut else list(self.events)

    @property
    def completes(self) -> bool:
        return any(e["type"] == "response.completed" for e in self.delivered())

    def index(self, event_type: str, nth: int = 0) -> int:
        """Position of the ``nth`` event of ``event_type`` (for disconnect_after / stall_after)."""
        hits = [i for i, e in enumerate(self.events) if e["type"] == event_type]
        return hits[nth]

    def cut(
        self,
        *,
        disconnect_after: int | None = None,
        stall_after: int | None = None,
        delay: float | None = None,
        stall_seconds: float | None = None,
    ) -> Script:
        """This script, delivered differently."""
        if disconnect_after is not None:
            self.disconnect_after = disconnect_after
        if stall_after is not None:
            self.stall_after = stall_after
        if delay is not None:
            self.delay = delay
        if stall_seconds is not None:
            self.stall_seconds = stall_seconds
        return self


class Builder:
    """One response's events, added in the order the API sends them."""

    def __init__(self, wire: Ids) -> None:
        self.wire = wire
        self.response_id = wire.new_id("resp")
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []
        self.call_ids: list[str] = []
        self._sequence = 0

    def emit(self, event_type: str, **fields: Any) -> None:
        self.events.append({"type": event_type, "sequence_number": self._sequence, **fields})
        self._sequence += 1

    def response(self, status: str, *, error: dict[str, Any] | None = None, usage: bool = False) -> dict[str, Any]:
        out_tokens = sum(len(json.dumps(item)) // 4 for item in self.output)
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": 1760000000,
            "status": status,
            "error": error,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": self.wire.model,
            "output": [dict(item) for item in self.output] if status != "in_progress" else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": {
                "input_tokens": 42,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": out_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 42 + out_tokens,
            }
            if usage
            else None,
            "metadata": {},
        }

    def created(self) -> None:
        self.emit("response.created", response=self.response("in_progress"))
        self.emit("response.in_progress", response=self.response("in_progress"))

    def message(
        self, text: str, chunks: list[str], *, complete: bool = True, annotations: list[dict[str, Any]] | None = None
    ) -> None:
        """A message item streamed in ``chunks``; each of ``annotations`` (url_citation objects) is announced
        after the delta that completes the text it covers."""
        annotations = annotations or []
        item_id = self.wire.new_id("msg")
        index = len(self.output)
        self.emit(
            "response.output_item.added",
            output_index=index,
            item={"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
        )
        self.emit(
            "response.content_part.added",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": []},
        )
        sent, announced = 0, 0
        for chunk in chunks:
            self.emit(
                "response.output_text.delta",
                item_id=item_id,
                output_index=index,
                content_index=0,
                delta=chunk,
                logprobs=[],
            )
            sent += len(chunk)
            while announced < len(annotations) and annotations[announced]["end_index"] <= sent:
                self.emit(
                    "response.output_text.annotation.added",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    annotation_index=announced,
                    annotation=annotations[announced],
                )
                announced += 1
        if not complete:
            return
        part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        self.emit(
            "response.output_text.done", item_id=item_id, output_index=index, content_index=0, text=text, logprobs=[]
        )
        self.emit("response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=part)
        item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def web_search_call(self, query: str, status: str = "completed") -> int:
        """A hosted web search's item and progress events; returns the index of its ``.searching`` event."""
        item_id = self.wire.new_id("ws")
        index = len(self.output)
        self.emit(
            "response.output_item.added",
            output_index=index,
            item={"id": item_id, "type": "web_search_call", "status": "in_progress", "action": {"type": "search"}},
        )
        self.emit("response.web_search_call.in_progress", item_id=item_id, output_index=index)
        self.emit("response.web_search_call.searching", item_id=item_id, output_index=index)
        searching = len(self.events) - 1
        if status == "completed":
            self.emit("response.web_search_call.completed", item_id=item_id, output_index=index)
        item = {
            "id": item_id,
            "type": "web_search_call",
            "status": status,
            "action": {"type": "search", "query": query},
        }
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)
        return searching

    def function_call(self, name: str, arguments: str, chunks: list[str]) -> None:
        item_id = self.wire.new_id("fc")
        call_id = self.wire.new_id("call")
        index = len(self.output)
        self.emit(
            "response.output_item.added",
            output_index=index,
            item={
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": name,
                "arguments": "",
            },
        )
        for chunk in chunks:
            self.emit("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=chunk)
        self.emit("response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=arguments)
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)
        self.call_ids.append(call_id)

    def completed(self) -> None:
        self.emit("response.completed", response=self.response("completed", usage=True))

    def failed(self, code: str, message: str) -> None:
        self.emit("response.failed", response=self.response("failed", error={"code": code, "message": message}))

    def error(self, code: str, message: str) -> None:
        self.emit("error", code=code, message=message, param=None)

    def script(self) -> Script:
        return Script(self.events, self.response_id, list(self.call_ids))


def event_bytes(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


_CITATION = re.compile(r"\(\s*\[[^\]]+\]\(https?://[^)\s]+\)(?:\s*[,;]?\s*\[[^\]]+\]\(https?://[^)\s]+\))*\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def citations(text: str) -> list[dict[str, Any]]:
    """The url_citation annotations of the inline citations in ``text`` ("([site](url))", or several links in
    one pair of parentheses): one for each link, covering its "[site](url)"."""
    return [
        {
            "type": "url_citation",
            "start_index": link.start(),
            "end_index": link.end(),
            "title": f"{link.group(1)}: the page the answer cites",
            "url": link.group(2),
        }
        for citation in _CITATION.finditer(text)
        for link in _LINK.finditer(text, citation.start(), citation.end())
    ]


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
