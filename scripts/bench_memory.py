#!/usr/bin/env python3
"""Memory of the appliance (issue 31): peak and steady RSS after start and after N spoken turns, and what each
component adds.

Turns: a real ``appliance run`` in the default configuration (openWakeWord, Silero VAD, smart-turn, streaming
transcription, Responses and ElevenLabs over WebSocket, timers, camera tool), headless against the local
stand-ins for every service, hears "Hey Jarvis! <question>" N times from its WAV microphone at real-time pace
and answers each. RSS is read from /proc: VmRSS (steady: what the process holds now) and VmHWM (peak: the most
it ever held) once the background warm-up is over (after start) and after the last turn.

Components: a fresh interpreter builds the same pieces one after another, the way ``wiring.build`` does, and
reads VmRSS after each, so each row is what that piece adds on top of the ones before it (a library two pieces
share counts for the first that loads it: before this work openwakeword brought in requests and with it urllib3,
ssl and charset_normalizer, which now count for the OpenAI SDK).

``--before DIR`` measures another checkout alongside (e.g. ``git archive <commit> | tar -x -C DIR``), with this
environment, for a before/after table; ``--checkout DIR`` replaces this checkout.
    uv run --group dev python scripts/bench_memory.py [--turns 50] [--before DIR] [--smaps]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

KEY = "sk-test-fakecloud-0123456789"
WARM_S = 10.0  # room noise before the first wake word: the cloud clients and the turn model load meanwhile
QUESTIONS = ("What is the weather like in Paris today?", "What time is it?", "Tell me a joke.")
ANSWER = "It is sunny in Paris today. The high is twenty degrees."
#: the default configuration, with the follow-up window off so each turn begins with the wake word
CONFIG = "[wake]\nfollow_up = false\n"


def status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def smaps(pid: int) -> dict[str, float]:
    """Resident MB per mapped file (shared libraries, models) and of the anonymous memory (the heaps)."""
    out: dict[str, float] = {}
    name = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
            name = fields[5] if len(fields) > 5 else "[anonymous]"
            if "site-packages/" in name:
                name = name.split("site-packages/")[1]
        elif fields and fields[0] == "Rss:":
            out[name] = out.get(name, 0.0) + int(fields[1]) / 1024
    return out


def mic_wav(path: Path, turns: int) -> None:
    import numpy as np

    from standin.voice import concat, noise, synth, write_wav

    parts: list[Any] = [noise(WARM_S, -60.0, seed=1)]
    for i in range(turns):
        question = QUESTIONS[i % len(QUESTIONS)]
        parts += [synth("Hey Jarvis!"), noise(0.4, -60.0, seed=2), synth(question), noise(5.0, -60.0, seed=3)]
    parts.append(noise(300.0, -60.0, seed=4))  # then quiet until stopped
    write_wav(path, concat(*[np.asarray(p) for p in parts]))


def measure_turns(
    turns: int, checkout: Path, env: dict[str, str] | None = None, config: str = CONFIG
) -> dict[str, Any]:
    """Peak/steady RSS of the default appliance after its warm-up and after ``turns`` spoken turns."""
    import tempfile

    from appliance_harness import Appliance

    from standin.cloud import FakeCloud, Json
    from standin.openai_ws import OpenAiSockets
    from standin.realtime import FakeRealtime
    from standin.realtime import Script as RealtimeScript
    from standin.responses import ResponsesServer, Wire
    from standin.responses_ws import ResponsesWsServer
    from standin.speech import pcm, tts
    from standin.tts_ws import FakeStreamInputTTS, Fault

    mic = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "mic.wav"
    mic_wav(mic, turns)
    with FakeCloud() as cloud, FakeRealtime(api_key=KEY) as realtime, FakeStreamInputTTS() as speech_ws:
        server, wire = ResponsesServer(cloud), Wire()
        server.then(*[wire.text(ANSWER) for _ in range(turns * 3 + 10)])
        cloud.default("transcriptions", lambda r: Json({"text": QUESTIONS[0]}))
        cloud.default("tts", lambda r: tts(pcm(1.0)))
        realtime.default(RealtimeScript(transcript=QUESTIONS[0]))
        speech_ws.default(Fault())
        responses_ws = ResponsesWsServer(server)
        sockets = OpenAiSockets(realtime, responses_ws)
        extra = {"OPENAI_WEBSOCKET_BASE_URL": sockets.url, "ELEVENLABS_WEBSOCKET_BASE_URL": speech_ws.url}
        extra.update(env or {})
        app = Appliance(cloud, mic=mic, config=config, env=extra, root=checkout)
        try:
            time.sleep(max(0.0, WARM_S - 2.0 - (time.monotonic() - app.started - app.ready_after)))
            start = status(app.proc.pid)
            answered = 0
            for _ in range(turns):
                turn = app.wait_turn(timeout=60)
                answered += turn.get("outcome") == "answered"
            after = status(app.proc.pid)
            mapped = sorted(smaps(app.proc.pid).items(), key=lambda kv: -kv[1])[:15]
        finally:
            app.stop()
            sockets.close()
            responses_ws.close()
    return {
        "start_rss": start["VmRSS"],
        "start_hwm": start["VmHWM"],
        "turns_rss": after["VmRSS"],
        "turns_hwm": after["VmHWM"],
        "answered": answered,
        "mapped": mapped,
    }


#: run in a fresh interpreter in the checkout: each step builds one piece as wiring.build does, then VmRSS/VmHWM
COMPONENTS = r"""
import importlib.util, json, os, sys, time
sys.path.insert(0, os.getcwd())
def status():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out
rows = []
def step(name, fn):
    fn()
    rows.append((name, status()))
def core():
    import numpy
    if importlib.util.find_spec("appliance.host.memory"):
        from appliance.host.memory import tune_malloc
        tune_malloc()
    import appliance.host.wiring
step("Python, numpy, the appliance's modules", core)
from appliance.config.settings import load
settings = load(None)
import numpy as np
def wake():
    from appliance.wake import WAKE_ENGINES
    detector = WAKE_ENGINES.get(settings.wake.engine)(settings)
    for _ in range(50):
        detector.process(np.zeros(1280, np.int16))
step("wake word (openWakeWord on LiteRT, hey_jarvis)", wake)
def vad():
    from appliance.wake import VAD_ENGINES
    VAD_ENGINES.get(settings.vad.engine)(settings)
step("voice activity (Silero)", vad)
model = []
def turn_model():
    from appliance.listening.endpoint.semantic import load_model
    model.append(load_model(settings.endpoint.turn_threads))
step("turn model: onnxruntime and the smart-turn session", turn_model)
def decisions():
    audio = np.random.default_rng(0).integers(-3000, 3000, 16000 * 4).astype(np.int16)
    for _ in range(3):
        model[0].predict(audio)
step("turn model: three decisions", decisions)
def openai_clients():
    from appliance.stt import TRANSCRIBERS
    sockets_without_sdk = importlib.util.find_spec("appliance.llm.openai_socket") is not None
    if not sockets_without_sdk or settings.stt.mode != "streaming":  # the upload is the fallback's, made if needed
        TRANSCRIBERS.get(settings.stt.provider)(settings).warm()
    import appliance.stt.realtime, appliance.stt.streaming, appliance.llm.responses
    if not sockets_without_sdk:
        import openai.types.responses
        from appliance.host.builders import warm_event_types as _warm_event_types
        _warm_event_types()
step("OpenAI: realtime transcription, Responses over the WebSocket", openai_clients)
def speech_ws():
    import appliance.speech.streaming, appliance.tts.elevenlabs_ws
step("ElevenLabs input streaming (WebSocket)", speech_ws)
def speech_sdk():
    from appliance.tts import SYNTHESIZERS
    synth = SYNTHESIZERS.get(settings.tts.provider)(settings)
    if LOADS_SPEECH_SDK:
        synth.warm()
step("ElevenLabs SDK (the HTTP fallback)", speech_sdk)
def local():
    if (__import__("pathlib").Path("appliance") / "local" / "matcher.py").is_file():
        from appliance.local.matcher import CommandMatcher, load_templates
        CommandMatcher(load_templates(settings.local.language)).match("set a timer for ten minutes")  # its warm-up
step("local commands (hassil templates)", local)
def rest():
    import appliance.timers.service, appliance.timers.alarm, appliance.camera, appliance.tools
    import appliance.audio.pyaudio_io
step("timers, camera tool, PyAudio", rest)
print(json.dumps(rows))
"""


def loads_speech_sdk(checkout: Path) -> bool:
    """Whether that checkout's wiring imports the ElevenLabs SDK at start with speech over the WebSocket (before
    this work it always did; now only when the HTTP fallback is first used)."""
    wiring = next(
        p for p in (checkout / "appliance" / "host" / "wiring.py", checkout / "appliance" / "wiring.py") if p.is_file()
    )
    return "if not streaming_speech:" not in wiring.read_text()


def measure_components(checkout: Path) -> list[tuple[str, float, float]]:
    """(component, MB it adds to VmRSS, VmHWM after it) in build order, in a fresh interpreter."""
    from standin.headless import appliance_env

    env = appliance_env(
        {"OPENAI_API_KEY": KEY, "ELEVENLABS_API_KEY": "el-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    code = f"LOADS_SPEECH_SDK = {loads_speech_sdk(checkout)}\n" + COMPONENTS
    done = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the components failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    rows, before, result = json.loads(out.strip().splitlines()[-1]), 0.0, []
    for name, st in rows:
        result.append((name, st["VmRSS"] - before, st["VmHWM"]))
        before = st["VmRSS"]
    return result


def table(before: dict[str, Any] | None, after: dict[str, Any], turns: int) -> str:
    """Markdown: the components (MB each adds), then peak and steady RSS after start and after the turns."""
    columns = ["before", "after"] if before else ["now"]
    runs = [before, after] if before else [after]
    lines = [f"| | {' | '.join(columns)} |", f"| --- |{' ---: |' * len(columns)}"]
    for i, (name, _, _) in enumerate(after["components"]):
        cells = [f"+{r['components'][i][1]:.1f} MB" for r in runs if r]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    for label, key in (
        ("**after start: steady (VmRSS)**", "start_rss"),
        ("**after start: peak (VmHWM)**", "start_hwm"),
        (f"**after {turns} spoken turns: steady**", "turns_rss"),
        (f"**after {turns} spoken turns: peak**", "turns_hwm"),
    ):
        cells = [f"**{r['turns'][key]:.0f} MB**" for r in runs if r]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    answered = ", ".join(f"{r['turns']['answered']:.0f}/{turns}" for r in runs if r)
    lines.append(f"\n(turns answered: {answered})")
    return "\n".join(lines)


def measure(checkout: Path, turns: int, env: dict[str, str], config: str) -> dict[str, Any]:
    return {"components": measure_components(checkout), "turns": measure_turns(turns, checkout, env, config)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--before", type=Path, help="another checkout to measure alongside, for a before column")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="more environment")
    parser.add_argument("--smaps", action="store_true", help="also list the largest resident mappings")
    parser.add_argument("--config", default="", help="more settings (TOML, \\n for new lines)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    config = CONFIG + args.config.replace("\\n", "\n")
    results: dict[str, dict[str, Any]] = {}
    from concurrent.futures import ThreadPoolExecutor

    checkouts = {"after": args.checkout.resolve()}
    if args.before:
        checkouts["before"] = args.before.resolve()
    with ThreadPoolExecutor(len(checkouts)) as pool:  # both appliances run side by side: half the wall time
        futures = {k: pool.submit(measure, c, args.turns, env, config) for k, c in checkouts.items()}
        results = {k: f.result() for k, f in futures.items()}
    print(table(results.get("before"), results["after"], args.turns))
    if args.smaps:
        print("\nresident after the turns, by mapping (MB):")
        for name, mb in results["after"]["turns"]["mapped"]:
            print(f"{mb:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
