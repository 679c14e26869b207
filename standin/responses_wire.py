"""The Responses API's streamed events for the fake cloud, built per test: :class:`Wire` and the
:class:`Script` it returns.

:class:`Wire` builds the SSE event sequences the Responses API sends (shapes checked against the
installed SDK's ``openai/types/responses/response_*_event.py``, and parsed by the real SDK in the tests):
a text answer in deltas, one or several function calls with argument deltas, text followed by calls,
``response.failed`` and ``error``, and the hosted web search: a ``web_search_call`` item with its progress
events (``response.web_search_call.in_progress`` / ``.searching`` / ``.completed``), then the message, whose
text carries inline markdown citations and matching ``url_citation`` annotations
(``response.output_text.annotation.added``), as the API streams them. Ids are consistent (``resp_``, ``msg_``,
``fc_``, ``call_``, ``ws_``) and every event has its ``sequence_number``. A :class:`Script` says how it is
delivered (delays, pauses, a cut, a stall), so either transport (:mod:`standin.responses` over HTTP,
:mod:`standin.responses_ws`) plays it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from standin.cloud import Reply, Stream, sse

MODEL = "gpt-6-luna"


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
            yield _sse(event)

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


class Wire:
    """Builds Responses event sequences with ids that never repeat within one test."""

    def __init__(self, model: str = MODEL) -> None:
        self.model = model
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}_{next(counter):04d}{'ab12cd34ef56'[: 12 - len(prefix)]}"

    def text(self, text: str, *, chunks: list[str] | None = None, chunk_size: int = 7) -> Script:
        """A plain text answer, streamed in deltas (``chunks`` or pieces of ``chunk_size`` characters)."""
        b = _Builder(self)
        b.created()
        b.message(text, chunks or _split(text, chunk_size))
        b.completed()
        return b.script()

    def calls(self, *calls: tuple[str, dict[str, Any] | str], text: str | None = None, chunk_size: int = 5) -> Script:
        """Function calls (name, arguments as a dict or a raw string, e.g. malformed JSON), optionally
        after some text (the filler "let me look")."""
        b = _Builder(self)
        b.created()
        if text:
            b.message(text, _split(text, 7))
        for name, arguments in calls:
            raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
            b.function_call(name, raw, _split(raw, chunk_size) if raw else [])
        b.completed()
        return b.script()

    def web_search(
        self,
        text: str,
        *,
        query: str,
        seconds: float = 0.0,
        before: str | None = None,
        chunk_size: int = 7,
        status: str = "completed",
    ) -> Script:
        """The hosted web search: ``before`` (text the model says first, if any), a ``web_search_call`` item
        for ``query`` that searches for ``seconds`` (a pause before ``.completed``), then ``text`` as the
        answer. Inline markdown citations in ``text`` ("([site](https://…))", as the API writes them) get their
        ``url_citation`` annotations, each sent once the deltas have carried the citation whole. The call is
        the server's own: nothing is owed for it in the next request. ``status`` "failed" ends the search
        without results (the model still answers)."""
        b = _Builder(self)
        b.created()
        if before:
            b.message(before, _split(before, chunk_size))
        searching = b.web_search_call(query, status)
        b.message(text, _split(text, chunk_size), annotations=_citations(text))
        b.completed()
        script = b.script()
        if seconds > 0:
            script.pauses[searching + 1] = seconds
        return script

    def trickle(self, text: str, *, every: float, chunk_size: int = 5) -> Script:
        """A text answer that arrives slowly: one delta every ``every`` seconds (each gap under the
        client's read timeout, so only a deadline on the whole answer stops it)."""
        return self.text(text, chunk_size=chunk_size).cut(delay=every)

    def runaway(
        self, sentence: str = "And there is more to say about that. ", *, every: float = 0.0, limit: int | None = None
    ) -> Runaway:
        """An answer that never ends: ``sentence`` streamed again and again (``limit`` deltas at most)."""
        return Runaway(self, sentence, every, limit)

    def endless_arguments(
        self, name: str, *, total_chars: int = 1_000_000, chunk: str = "x" * 64, every: float = 0.0
    ) -> Runaway:
        """A function call whose arguments stream on and on (``total_chars`` of a string, then the end)."""
        return Runaway(self, chunk, every, max(1, total_chars // len(chunk)), call=name)

    def failed(
        self,
        code: str = "server_error",
        message: str = "The model failed to generate a response.",
        *,
        text: str | None = None,
    ) -> Script:
        """A response that ends with ``response.failed`` (optionally after some text)."""
        return self._broken(_Builder.failed, code, message, text)

    def error(
        self,
        code: str = "server_error",
        message: str = "An error occurred while processing the request.",
        *,
        text: str | None = None,
    ) -> Script:
        """A stream that ends with an ``error`` event (optionally after some text)."""
        return self._broken(_Builder.error, code, message, text)

    def _broken(self, end: Callable[[_Builder, str, str], None], code: str, message: str, text: str | None) -> Script:
        """A response cut short by ``end`` (the API's two ways of failing mid-stream), after ``text`` if any,
        whose message is left without its closing events."""
        b = _Builder(self)
        b.created()
        if text:
            b.message(text, _split(text, 7), complete=False)
        end(b, code, message)
        return b.script()


class _Builder:
    def __init__(self, wire: Wire) -> None:
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


class Runaway(Stream):
    """A streamed answer built as it is sent, so it can go on for ever without being held in memory.

    ``sent`` counts the deltas written so far (the server blocks once the client stops reading)."""

    def __init__(self, wire: Wire, delta: str, every: float, limit: int | None, *, call: str | None = None) -> None:
        self.sent = 0
        self._wire = wire
        self._delta = delta
        self._limit = limit
        self._call = call
        super().__init__(self._parts(), content_type="text/event-stream; charset=utf-8", delay=every)

    def _parts(self) -> Iterator[bytes]:
        b = _Builder(self._wire)
        b.created()
        item_id = self._wire.new_id("fc" if self._call else "msg")
        if self._call:
            call_id = self._wire.new_id("call")
            b.emit(
                "response.output_item.added",
                output_index=0,
                item={
                    "id": item_id,
                    "type": "function_call",
                    "status": "in_progress",
                    "call_id": call_id,
                    "name": self._call,
                    "arguments": "",
                },
            )
            b.emit("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta='{"text": "')
        else:
            b.emit(
                "response.output_item.added",
                output_index=0,
                item={"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
            )
        yield from (_sse(e) for e in b.events)
        sequence = len(b.events)
        for count in itertools.count():
            if self._limit is not None and count >= self._limit:
                break
            if self._call:
                event = {
                    "type": "response.function_call_arguments.delta",
                    "sequence_number": sequence,
                    "item_id": item_id,
                    "output_index": 0,
                    "delta": self._delta,
                }
            else:
                event = {
                    "type": "response.output_text.delta",
                    "sequence_number": sequence,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": self._delta,
                    "logprobs": [],
                }
            sequence += 1
            self.sent += 1
            yield _sse(event)


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


_CITATION = re.compile(r"\(\s*\[[^\]]+\]\(https?://[^)\s]+\)(?:\s*[,;]?\s*\[[^\]]+\]\(https?://[^)\s]+\))*\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def _citations(text: str) -> list[dict[str, Any]]:
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


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
