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
:mod:`standin.responses_ws`) plays it. The Script, and the builder of one response's events, are in
:mod:`standin.responses_events`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from standin.cloud import Stream
from standin.responses_events import Builder, Script, citations, event_bytes, split

MODEL = "gpt-6-luna"


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
        b = Builder(self)
        b.created()
        b.message(text, chunks or split(text, chunk_size))
        b.completed()
        return b.script()

    def calls(self, *calls: tuple[str, dict[str, Any] | str], text: str | None = None, chunk_size: int = 5) -> Script:
        """Function calls (name, arguments as a dict or a raw string, e.g. malformed JSON), optionally
        after some text (the filler "let me look")."""
        b = Builder(self)
        b.created()
        if text:
            b.message(text, split(text, 7))
        for name, arguments in calls:
            raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
            b.function_call(name, raw, split(raw, chunk_size) if raw else [])
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
        b = Builder(self)
        b.created()
        if before:
            b.message(before, split(before, chunk_size))
        searching = b.web_search_call(query, status)
        b.message(text, split(text, chunk_size), annotations=citations(text))
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
        return self._broken(Builder.failed, code, message, text)

    def error(
        self,
        code: str = "server_error",
        message: str = "An error occurred while processing the request.",
        *,
        text: str | None = None,
    ) -> Script:
        """A stream that ends with an ``error`` event (optionally after some text)."""
        return self._broken(Builder.error, code, message, text)

    def _broken(self, end: Callable[[Builder, str, str], None], code: str, message: str, text: str | None) -> Script:
        """A response cut short by ``end`` (the API's two ways of failing mid-stream), after ``text`` if any,
        whose message is left without its closing events."""
        b = Builder(self)
        b.created()
        if text:
            b.message(text, split(text, 7), complete=False)
        end(b, code, message)
        return b.script()


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
        b = Builder(self._wire)
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
        yield from (event_bytes(e) for e in b.events)
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
            yield event_bytes(event)
