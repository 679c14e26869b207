#!/usr/bin/env python3
"""Soak: hundreds of turns against the fake cloud with random (seeded) faults on every service.

Reports crashes, hangs (a turn that does not end within its bound), turns completed, and RSS at the
start and end. Not part of CI by default; tests/test_soak.py runs a short variant.
    uv run --group dev python scripts/soak.py [--turns 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import random

from appliance_harness import Appliance

from appliance.sim.cloud import FakeCloud, Reset, Stall, Status  # noqa: E402
from appliance.sim.responses import ResponsesServer, Wire  # noqa: E402
from appliance.sim.speech import pcm, tts  # noqa: E402

CONFIG = "[assistant]\nread_timeout = 1.0\ndeadline = 4.0\n[tts]\ntimeout = 1.0\n"


def soak(turns: int, seed: int, fault_rate: float = 0.3) -> dict[str, object]:
    rng = random.Random(seed)
    outcomes: dict[str, int] = {}
    hangs = 0
    with FakeCloud() as cloud:
        server, wire = ResponsesServer(cloud), Wire()

        def speech(_request):
            if rng.random() < fault_rate / 2:
                return rng.choice([Status(500, "tts down"), Reset(), tts(pcm(0.1), chunk=1000, disconnect_after=1)])
            return tts(pcm(0.05))

        cloud.default("tts", speech)
        app = Appliance(cloud, config=CONFIG)
        try:
            rss_start = None
            for i in range(turns):
                if rng.random() < fault_rate:
                    fault = rng.choice(
                        [
                            Status(429, "slow", retry_after=0.1),
                            Status(500, "oops"),
                            Stall(5),
                            Reset(),
                            wire.text("A cut answer. It breaks.").cut(disconnect_after=5),
                            wire.failed(),
                        ]
                    )
                    server.then(fault)
                server.then(*[wire.text(f"Answer {i}. All good.") for _ in range(3)])
                try:
                    turn = app.ask(f"question {i}", timeout=20)
                    outcomes[turn["outcome"]] = outcomes.get(turn["outcome"], 0) + 1
                except TimeoutError:
                    hangs += 1
                    break
                if rss_start is None:
                    rss_start = app.rss_mb()
            rss_end = app.rss_mb()
            crashed = app.proc.poll() is not None
        finally:
            code = app.stop()
    return {
        "turns": sum(outcomes.values()),
        "outcomes": outcomes,
        "hangs": hangs,
        "crashed": crashed,
        "exit_code": code,
        "rss_start_mb": round(rss_start or 0, 1),
        "rss_end_mb": round(rss_end, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    args = parser.parse_args()
    report = soak(args.turns, args.seed, args.fault_rate)
    for key, value in report.items():
        print(f"{key:>13}: {value}")
    ok = not report["crashed"] and not report["hangs"] and report["turns"] == args.turns
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
