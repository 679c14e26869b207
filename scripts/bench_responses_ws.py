#!/usr/bin/env python3
"""The model's requests over HTTP streaming vs the Responses WebSocket, against the local fake cloud.

A handshake delay (``--setup-ms``, 100 ms) is injected on the WebSocket; the model takes ``--model-ms`` to its
first event on either transport. Prints a table: request → first text delta for one-question turns (HTTP;
the socket opened by the turn; the socket opened ahead by ``prepare()``, as the app does on the wake word),
and a 5-round tool chain end to end.
    uv run python scripts/bench_responses_ws.py [--turns 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import openai

from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets
from appliance.events import Recorder
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.llm.responses import ResponsesAssistant
from appliance.ports import ToolContext
from appliance.retry import RetryPolicy
from appliance.timings import TurnTimings
from appliance.tools import ToolRegistry
from standin.cloud import FakeCloud
from standin.responses import ResponsesServer, Script, Wire
from standin.responses_ws import ResponsesWsServer


def lookup(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


def assistant(cloud: FakeCloud, ws: ResponsesWsServer, transport: str) -> ResponsesAssistant:
    settings = AssistantSettings(connect_timeout=2.0, read_timeout=5.0, deadline=20.0, max_retries=0)
    secrets = Secrets.from_env(cloud.env())
    client = openai.OpenAI(
        api_key=secrets.openai_api_key, base_url=cloud.openai_base_url, websocket_base_url=ws.url, max_retries=0
    )
    registry = ToolRegistry()
    registry.register(lookup)

    def context(cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(controls=None, camera=None, indicators=None, cancel=cancel, emit=emit)  # type: ignore[arg-type]

    policy = RetryPolicy(max_retries=0, deadline=settings.deadline, rng=random.Random(0))
    endpoint = OpenAiEndpoint(secrets.openai_api_key, cloud.openai_base_url, ws.url)
    made = ResponsesAssistant(
        settings, secrets, registry, context, client=client, endpoint=endpoint, retry_policy=policy, transport=transport
    )
    made.warm()  # imports (and, over the socket, a first connection: closed again below where the row wants)
    return made


def slow(script: Script, model_ms: float) -> Script:
    script.ttfb = model_ms / 1000
    return script


def first_delta_ms(timings: TurnTimings) -> float:
    return timings.spans_ms()["request_to_first_delta_ms"]


def one_question(mode: str, turns: int, setup_ms: float, model_ms: float) -> list[float]:
    values = []
    with FakeCloud() as cloud:
        server, wire = ResponsesServer(cloud), Wire()
        ws = ResponsesWsServer(server, setup_delay=setup_ms / 1000)
        try:
            made = assistant(cloud, ws, "http" if mode == "http" else "websocket")
            for turn in range(turns + 1):  # the first one is not counted: the SDK's first request loads code
                server.then(slow(wire.text("It is sunny today."), model_ms))
                if mode == "ws-cold":
                    made.close()  # as after assistant.transport_idle_seconds unused
                    ws.wait_all_closed(5.0)
                elif mode == "ws-prepared":
                    made.close()
                    ws.wait_all_closed(5.0)
                    started = made.prepare()  # on the wake word; the user then speaks for a second or more
                    if started is not None:
                        started.join(5.0)
                made.reset()
                timings = TurnTimings()
                list(made.respond("Weather?", CancelToken(), Recorder(), timings=timings))
                if turn:
                    values.append(first_delta_ms(timings))
        finally:
            ws.close()
    return values


def tool_chain(mode: str, turns: int, setup_ms: float, model_ms: float, rounds: int = 5) -> list[float]:
    values = []
    with FakeCloud() as cloud:
        server, wire = ResponsesServer(cloud), Wire()
        ws = ResponsesWsServer(server, setup_delay=setup_ms / 1000)
        try:
            made = assistant(cloud, ws, mode)
            for turn in range(turns + 1):
                scripts = [slow(wire.calls(("lookup", {"city": f"City {i}"})), model_ms) for i in range(rounds)]
                server.then(*scripts, slow(wire.text("All sunny."), model_ms))
                made.reset()
                started = time.monotonic()
                list(made.respond("Weather everywhere?", CancelToken(), Recorder()))
                if turn:
                    values.append((time.monotonic() - started) * 1000)
        finally:
            ws.close()
    return values


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"| {name:<48} | {statistics.median(values):9.1f} | {p90:8.1f} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--setup-ms", type=float, default=100.0)
    parser.add_argument("--model-ms", type=float, default=50.0)
    args = parser.parse_args()
    print(
        f"WebSocket handshake +{args.setup_ms:.0f} ms, model +{args.model_ms:.0f} ms to its first event, "
        f"{args.turns} turns each"
    )
    print(f"| {'measure':<48} | median ms |   p90 ms |")
    print(f"|{'-' * 50}|-----------|----------|")
    for mode, name in (
        ("http", "request → first delta, HTTP"),
        ("ws-cold", "request → first delta, socket opened by the turn"),
        ("ws-prepared", "request → first delta, socket from prepare()"),
    ):
        print(row(name, one_question(mode, args.turns, args.setup_ms, args.model_ms)), flush=True)
    for mode in ("http", "websocket"):
        print(
            row(
                f"5 tool rounds + answer end to end, {mode}",
                tool_chain(mode, max(3, args.turns // 4), args.setup_ms, args.model_ms),
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
