#!/usr/bin/env python3
"""Soak: hundreds of turns of the default appliance against the local stand-ins, with seeded random faults on
every service, checking memory and the timers file (issue 31).

The appliance runs as ``appliance run`` in its default configuration (streaming transcription, Responses and
ElevenLabs over WebSocket, each with its HTTP fallback; timers on). The first ``--spoken`` turns are spoken:
"Hey Jarvis! <question>" from the WAV microphone, so they go through the wake word, the VAD, the turn model and
the realtime transcription. The rest are asked over the control socket (``ctl ask``), which is faster and
covers the model, speech and tools. Before each turn, each service gets a fault with probability
``--fault-rate``, drawn from a seeded generator:

- transcription: the realtime socket refused, closed, stalled, an error event, events out of order; the
  HTTP upload it falls back to answering 500 or resetting;
- the model: the WebSocket upgrade refused or the socket closed mid-answer; 429 with Retry-After, 500, a stall,
  a reset, a cut stream or a failed response on whichever transport asks next;
- speech: the stream-input socket refused, closed, stalled or sending an error; the HTTP fallback 500, reset
  or cut mid-stream.

About a third of the answers are tool calls that set, cancel or extend a timer. After every turn the timers
file (``timers.json`` in the state directory) must hold exactly the running timers that ``ctl timers`` lists. A
timer that ends in a long run rings after its turn; a press stops it, as the owner would (``timers_rung``).

Reports turns, outcomes, hangs, crashes, timers-file mismatches and RSS: after the first turn, after the warm-up
turns (every path and fallback has been used by then, its modules loaded and its caches filled), at the end,
and the peak; the growth is end minus after the warm-up.
    uv run --group dev python scripts/soak.py [--turns 300] [--spoken 40] [--seed 1] [--fault-rate 0.3]
tests/test_soak.py runs a short variant.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from appliance_harness import Appliance  # noqa: E402

from appliance.host.control_client import request  # noqa: E402
from standin.cloud import FakeCloud, Json, Reset, Stall, Status  # noqa: E402
from standin.openai_ws import OpenAiSockets  # noqa: E402
from standin.realtime import FakeRealtime  # noqa: E402
from standin.realtime import Fault as SttFault  # noqa: E402
from standin.realtime import Script as SttScript  # noqa: E402
from standin.responses import ResponsesServer, Wire  # noqa: E402
from standin.responses_ws import ResponsesWsServer  # noqa: E402
from standin.speech import pcm, tts  # noqa: E402
from standin.tts_ws import FakeStreamInputTTS  # noqa: E402
from standin.tts_ws import Fault as TtsFault  # noqa: E402

KEY = "sk-test-fakecloud-0123456789"
CONFIG = (
    "[assistant]\nread_timeout = 1.0\ndeadline = 4.0\n[tts]\ntimeout = 1.0\n"
    "[wake]\nfollow_up = false\n[stt]\nrealtime_connect_timeout = 1.0\n"
)
QUESTION = "Tell me about the mountains."
WARM_S = 10.0  # room noise before the first wake word: the clients and the turn model load meanwhile
SLOT_S = 12.0  # from one spoken question's end to the next wake word: room for the slowest faulty turn
WARM_TURNS = 25


def mic_wav(path: Path, spoken: int, asked: int) -> None:
    from standin.voice import concat, noise, synth, write_wav

    parts = [noise(WARM_S, -60.0, seed=1)]
    for _ in range(spoken):
        parts += [synth("Hey Jarvis!"), noise(0.4, -60.0, seed=2), synth(QUESTION), noise(SLOT_S, -60.0, seed=3)]
    parts.append(noise(600.0 + 8.0 * asked, -60.0, seed=4))  # quiet while the asked turns run
    write_wav(path, concat(*parts))


class Faults:
    """The seeded faults of every service, drawn before each turn."""

    def __init__(self, seed: int, rate: float, cloud: FakeCloud, server: ResponsesServer, wire: Wire) -> None:
        # The turns' script draws from ``rng`` only, so a seed gives the same faults and timer actions every run; the
        # HTTP fallbacks are reached or not depending on timing and draw from their own generator.
        self.rng, self.http_rng, self.rate = random.Random(seed), random.Random(seed + 1_000_003), rate
        self.cloud, self.server, self.wire = cloud, server, wire
        self.drawn: dict[str, int] = {}
        self.labels: list[str] = []  # timers set so far (some may have been cancelled)
        cloud.default("transcriptions", self._transcription)
        cloud.default("tts", self._speech_http)

    def _hit(self, rng: random.Random | None = None) -> bool:
        return (rng or self.rng).random() < self.rate

    def _count(self, name: str) -> None:
        self.drawn[name] = self.drawn.get(name, 0) + 1

    def _transcription(self, _request: Any) -> Any:
        if self._hit(self.http_rng):
            self._count("stt http")
            return self.http_rng.choice([Status(500, "transcription down"), Reset()])
        return Json({"text": QUESTION})

    def _speech_http(self, _request: Any) -> Any:
        if self._hit(self.http_rng):
            self._count("tts http")
            return self.http_rng.choice(
                [Status(500, "tts down"), Reset(), tts(pcm(0.1), chunk=1000, disconnect_after=1)]
            )
        return tts(pcm(0.05))

    def next_turn(self, i: int, realtime: FakeRealtime, responses_ws: ResponsesWsServer, speech_ws: Any) -> None:
        wire, rng = self.wire, self.rng
        if self._hit():
            self._count("stt ws")
            fault = rng.choice([SttFault.REFUSE, SttFault.CLOSE, SttFault.STALL, SttFault.ERROR, SttFault.WRONG_ORDER])
            realtime.default(SttScript(transcript=QUESTION, fault=fault, status=503, close_after=2))
        else:
            realtime.default(SttScript(transcript=QUESTION))
        if self._hit():
            self._count("model ws")
            if rng.random() < 0.5:
                responses_ws.refuse(rng.choice([401, 500, 503]))
            else:
                responses_ws.close_after(rng.randint(1, 6))
        if self._hit():
            self._count("model")
            self.server.then(
                rng.choice(
                    [
                        Status(429, "slow", retry_after=0.1),
                        Status(500, "oops"),
                        Stall(5),
                        Reset(),
                        wire.text("A cut answer. It breaks.").cut(disconnect_after=5),
                        wire.failed(),
                    ]
                )
            )
        if self._hit():
            self._count("tts ws")
            speech_ws.script(
                rng.choice(
                    [TtsFault(refuse=503), TtsFault(close_after=1), TtsFault(stall_after=1), TtsFault(error="quota")]
                )
            )
        action = rng.random()
        if action < 0.2:
            label = f"soak {i}"
            self.labels.append(label)
            self.server.then(wire.calls(("set_timer", {"seconds": rng.choice([600, 1800, 3600]), "label": label})))
        elif action < 0.3 and self.labels:
            self.server.then(wire.calls(("cancel_timer", {"label": rng.choice(self.labels), "all_timers": False})))
        elif action < 0.35 and self.labels:
            self.server.then(wire.calls(("add_time_to_timer", {"seconds": 60, "label": rng.choice(self.labels)})))
        self.server.then(*[wire.text(f"Answer {i}. All good.") for _ in range(3)])


def timers_mismatch(app: Appliance) -> str:
    """'' when the timers file holds exactly the running timers ``ctl timers`` lists, else what differs."""
    reply = request(app.socket, "timers", [])
    running = sorted((t["label"], round(float(t["seconds"]), 1)) for t in reply.get("timers", []))
    path = app.dir / "state" / "timers.json"
    try:
        saved = json.loads(path.read_text())["timers"]
    except FileNotFoundError:
        saved = []
    in_file = sorted((t["label"], round(float(t["seconds"]), 1)) for t in saved if not t.get("ended"))
    return "" if in_file == running else f"file {in_file} != running {running}"


def soak(
    turns: int, seed: int, fault_rate: float = 0.3, spoken: int = 40, warm_turns: int = WARM_TURNS
) -> dict[str, Any]:
    spoken = min(spoken, turns)
    outcomes: dict[str, int] = {}
    hangs, mismatches, rss = 0, [], {}
    mic = Path(tempfile.mkdtemp(prefix="soak-")) / "mic.wav"
    mic_wav(mic, spoken, turns - spoken)
    with FakeCloud() as cloud, FakeRealtime(api_key=KEY) as realtime, FakeStreamInputTTS() as speech_ws:
        server, wire = ResponsesServer(cloud), Wire()
        faults = Faults(seed, fault_rate, cloud, server, wire)
        responses_ws = ResponsesWsServer(server)
        sockets = OpenAiSockets(realtime, responses_ws)
        env = {"OPENAI_WEBSOCKET_BASE_URL": sockets.url, "ELEVENLABS_WEBSOCKET_BASE_URL": speech_ws.url}
        faults.next_turn(0, realtime, responses_ws, speech_ws)
        app = Appliance(cloud, mic=mic, config=CONFIG, env=env)
        crashed, timers_running = False, 0
        try:
            for i in range(turns):
                try:
                    if i < spoken:
                        turn = app.wait_turn(timeout=WARM_S + 60 if i == 0 else SLOT_S + 30)
                    else:
                        turn = app.ask(QUESTION, timeout=30)
                except TimeoutError:
                    hangs += 1
                    break
                outcomes[turn["outcome"]] = outcomes.get(turn["outcome"], 0) + 1
                faults.next_turn(i + 1, realtime, responses_ws, speech_ws)
                mismatch = timers_mismatch(app)
                if mismatch:
                    mismatches.append(f"turn {i + 1}: {mismatch}")
                if i == 0:
                    rss["after_first"] = app.rss_mb()
                if i + 1 == min(warm_turns, turns):
                    rss["after_warm_up"] = app.rss_mb()
            status = app.status()
            timers_running = len(request(app.socket, "timers", []).get("timers", []))
            crashed = app.proc.poll() is not None
        finally:
            alerts = app.alerts_stopped
            code = app.stop()
            sockets.close()
            responses_ws.close()
    return {
        "turns": sum(outcomes.values()),
        "spoken": spoken,
        "outcomes": outcomes,
        "faults": dict(sorted(faults.drawn.items())),
        "timers_set": len(faults.labels),
        "timers_running": timers_running,
        "timers_rung": alerts,
        "hangs": hangs,
        "crashed": crashed,
        "exit_code": code,
        "timers_mismatches": mismatches,
        "rss_after_first_turn_mb": round(rss.get("after_first", 0.0), 1),
        "rss_after_warm_up_mb": round(rss.get("after_warm_up", 0.0), 1),
        "rss_end_mb": round(status["VmRSS"], 1),
        "rss_peak_mb": round(status["VmHWM"], 1),
        "rss_growth_mb": round(status["VmRSS"] - rss.get("after_warm_up", 0.0), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--spoken", type=int, default=40, help="how many of the first turns are spoken")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-rate", type=float, default=0.3, help="per service and turn")
    args = parser.parse_args()
    report = soak(args.turns, args.seed, args.fault_rate, args.spoken)
    for key, value in report.items():
        print(f"{key:>24}: {value}")
    ok = (
        not report["crashed"]
        and not report["hangs"]
        and report["turns"] == args.turns
        and not report["timers_mismatches"]
        and report["rss_growth_mb"] <= 5.0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
