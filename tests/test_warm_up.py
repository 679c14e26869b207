"""The assistant's warm-up parses one event of each stream's union (HTTP and WebSocket), so the SDK's parser for
it is built before the first answer (scripts/bench_latency.py measured ~220 ms for that on the first answer)."""

from __future__ import annotations

from openai.types.responses import ResponseTextDeltaEvent
from openai.types.responses.responses_server_event import ResponseTextWsDelta

from appliance import wiring


def test_the_warm_up_parses_a_text_delta_of_both_unions() -> None:
    parsed = wiring._warm_event_types()
    # a dict the unions did not recognise would come back as a plain dict (and warm nothing)
    assert [type(event) for event in parsed] == [ResponseTextDeltaEvent, ResponseTextWsDelta]
    assert all(event.delta == "" for event in parsed)
