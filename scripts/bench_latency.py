#!/usr/bin/env python3
"""End of speech → first audio, stage by stage, for the listening and speaking modes (issues 14 and 15).

Real ``appliance run`` processes (headless, WAV microphone and speaker at real-time pace) hear a synthesized
"Hey Jarvis! What is the weather like in Paris today?" and answer from the local stand-ins for the cloud, which
inject the issues' latencies: transcription 0.3 s (batch: the upload's answer; streaming: commit → first
transcript delta), model 0.45 s to its first text delta (then a delta every 30 ms), speech 0.2 s to the first
audio (HTTP and the input-streaming WebSocket alike). Modes:

    a  silence endpointing, batch transcription, HTTP model, HTTP speech (the baseline)
    b  semantic end of turn + streaming transcription (issue 14 alone)
    c  everything streaming: b + Responses over WebSocket + ElevenLabs input streaming (issues 14 + 15)
    d  c on a question with a 1.5 s thinking pause ("What is the weather like in ... Paris today?")
    e  c without the transcript check
    k  c on a local command ("Set a timer for ten minutes."): answered on the device, the model not asked; its
       reply synthesized (a new device: the common replies are kept as speech after the first synthesis)
    l  k with the reply already kept as speech (every later time)
    m  k with local commands off: the same command answered by the model
    w  c on a question the model answers with the hosted web search (issue 27): the search item at 0.45 s, the
       search 2.5 s, the first text delta 0.45 s after it (citations inline); the filler phrase on (kept as speech)
    x  w with the filler off (``assistant.search_filler_seconds = 0``)
    h  c on "Please turn on the light in the kitchen.": the model calls a tool of an MCP server (tests/mcp_home.py
       over streamable HTTP on 127.0.0.1, its light's state checked), then answers; each model request takes the
       injected latency

End of speech is taken from the audio itself: the last voiced 20 ms window of the question in the microphone
WAV (``voice.voiced_span``), in microphone seconds. It is put on the appliance's clock through the ``recording``
event (its ``end`` in microphone seconds, its ``t`` on the event clock) and the ``ready`` event (emitted as
the microphone thread starts: microphone second 0). The WAV microphone hands a frame over when its first
sample is due, one frame (80 ms) earlier than a real microphone could; so, as for a real microphone, a sample
counts as spoken one frame before the moment the WAV microphone hands its frame over. Then

    end of speech → end of turn   = t(recording) − (t(ready) + last voiced second − 80 ms)
    end of speech → first audio   = that + the turn's end_of_speech_to_first_audio_ms
                                    (its end_of_speech mark is set in the same loop step as the recording event)

For the web-search modes the first sound is the filler's or the answer's, whichever comes first (the turn's
``end_of_speech_to_filler_ms`` and ``end_of_speech_to_first_audio_ms``); a second table gives both.

The other figures are the ``turn`` event's spans. The table is printed in Markdown; docs/latency.png shows one
turn (the median run) per mode as a waterfall.
    uv run --group dev python scripts/bench_latency.py [--runs 3] [--modes abcde] [--png docs/latency.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.ports import FRAME_SECONDS  # noqa: E402
from standin.cloud import FakeCloud, Json  # noqa: E402
from standin.headless import Run, appliance_env, run  # noqa: E402
from standin.openai_ws import OpenAiSockets  # noqa: E402
from standin.realtime import FakeRealtime  # noqa: E402
from standin.realtime import Script as RealtimeScript  # noqa: E402
from standin.responses import ResponsesServer, Wire  # noqa: E402
from standin.responses_ws import ResponsesWsServer  # noqa: E402
from standin.speech import pcm, tts  # noqa: E402
from standin.tts_ws import FakeStreamInputTTS, Fault  # noqa: E402
from standin.voice import RATE, concat, noise, synth, voiced_span, write_wav  # noqa: E402

STT_S, LLM_S, TTS_S = 0.3, 0.45, 0.2  # injected: transcription, model to its first delta, speech to first audio
DELTA_S = 0.03  # between the model's stream events
QUESTION = "What is the weather like in Paris today?"
PAUSE_BEFORE, PAUSE_S = "What is the weather like in", 1.5
ANSWER = "It is sunny in Paris today. The high is twenty degrees, with a light wind from the west."
KEY = "sk-test-fakecloud-0123456789"
#: Seconds of room noise before the wake word: the cloud clients and the turn model load in the background after
#: start-up, and on this shared machine that takes seconds; the benchmark measures a warmed-up appliance.
WARM_S = 8.0

TARGETS = {
    "wait": 300.0,
    "b": 1200.0,
    "c": 900.0,
    "d": 900.0,
    "e": 900.0,
    "k": 350.0,
    "l": 350.0,
    "delta": TTS_S * 1000 + 60,
}
COMMAND = "Set a timer for ten minutes."
LIGHT = "Please turn on the light in the kitchen."
MCP_TOKEN = "bench-token-0123456789"
SEARCH_S = 2.5  # injected: the hosted web search, between its "searching" and "completed" events
SEARCH_QUERY = "weather Paris today"
SEARCH_ANSWER = (
    "It is sunny in Paris today, with a high of twenty degrees "
    "([meteo.fr](https://meteo.fr/paris/previsions?utm_source=openai)). "
    "A light wind blows from the west. ([weather.com](https://weather.com/weather/today/l/Paris?utm_source=openai))"
)


@dataclass(frozen=True)
class Mode:
    key: str
    title: str
    endpoint: str
    stt: str
    transport: str  # the model's and the speech's
    paused: bool = False
    transcript_check: bool = True
    question: str = QUESTION
    local: bool = True
    cached_replies: bool = False
    search: bool = False  # the model answers with the hosted web search
    filler: bool = True
    mcp: bool = False  # the model calls a tool of an MCP server (tests/mcp_home.py), then answers

    def config(self) -> str:
        check = "true" if self.transcript_check else "false"
        filler = "" if self.filler else "search_filler_seconds = 0.0\n"  # on: the default
        return (
            f'[endpoint]\nmode = "{self.endpoint}"\ntranscript_check = {check}\n[stt]\nmode = "{self.stt}"\n'
            f'[assistant]\ntransport = "{self.transport}"\n{filler}'
            f'[tts]\ntransport = "{self.transport}"\n'
            f"[local]\nenabled = {'true' if self.local else 'false'}\n"
        )

    def mcp_config(self, url: str) -> str:
        return f'[mcp.servers.home]\nurl = "{url}"\n' if self.mcp else ""


MODES = {
    "a": Mode("a", "baseline: silence + batch + HTTP + HTTP", "silence", "batch", "http"),
    "b": Mode("b", "semantic + streaming STT (issue 14)", "semantic", "streaming", "http"),
    "c": Mode("c", "everything streaming (14 + 15)", "semantic", "streaming", "websocket"),
    "d": Mode("d", "(c), 1.5 s pause mid-question", "semantic", "streaming", "websocket", paused=True),
    "e": Mode("e", "(c) without the transcript check", "semantic", "streaming", "websocket", transcript_check=False),
    "k": Mode("k", "(c) on a local command, reply synthesized", "semantic", "streaming", "websocket", question=COMMAND),
    "l": Mode(
        "l",
        "(c) on a local command, reply kept",
        "semantic",
        "streaming",
        "websocket",
        question=COMMAND,
        cached_replies=True,
    ),
    "m": Mode("m", "(k) with local commands off", "semantic", "streaming", "websocket", question=COMMAND, local=False),
    "w": Mode("w", "(c) answered by a web search, filler on", "semantic", "streaming", "websocket", search=True),
    "x": Mode(
        "x", "(c) answered by a web search, filler off", "semantic", "streaming", "websocket", search=True, filler=False
    ),
    "h": Mode("h", "(c) with an MCP tool call", "semantic", "streaming", "websocket", question=LIGHT, mcp=True),
}


@dataclass
class Measure:
    eos_to_eot: float  # end of speech → end of turn (the recording's end, on the appliance's clock), ms
    audio_wait: float  # microphone audio heard after the last voiced sample before the turn ended, ms
    eos_to_audio: float  # end of speech → first audio, ms
    wait_reported: float | None  # the end_of_turn event's wait_ms
    reason: str
    transcript_ms: float | None  # end of turn → transcript ready
    final_after_end: float | None  # streaming: commit → completed transcript (the session's own figure)
    to_delta: float | None  # end of turn → first text delta
    delta_to_audio: float | None
    cut: bool
    paths: str  # which transports the stand-ins saw used
    speaker_s: float
    eos_to_filler: float | None = None  # end of speech → the filler's first sample (web search modes), ms
    search_ms: float | None = None  # the web search, as the turn saw it (its start to its end), ms

    @property
    def eos_to_sound(self) -> float:
        """End of speech → the first thing heard: the filler or the answer."""
        return min(self.eos_to_audio, self.eos_to_filler if self.eos_to_filler is not None else self.eos_to_audio)


def mic_wav(path: Path, paused: bool, question: str = QUESTION) -> tuple[float, float | None]:
    """Write the microphone input; returns the question's last voiced second and, for the paused question,
    the second its pause begins (the end of the words before it), both in microphone seconds."""
    from standin.turns import complete
    from standin.turns import paused as with_pause

    sample = with_pause(QUESTION, PAUSE_BEFORE, PAUSE_S, tail=4.0) if paused else complete(question, tail=4.0)
    lead = concat(noise(WARM_S, -60.0, seed=3), synth("Hey Jarvis!"), noise(0.4, -60.0, seed=4))
    write_wav(path, concat(lead, sample.pcm))
    offset = len(lead) / RATE
    pause = None if sample.pause is None else offset + sample.pause[0]
    return offset + float(voiced_span(sample.pcm, -45.0)[1]), pause


def answer_script(wire: Wire) -> Any:
    script = wire.text(ANSWER)
    first = next(i for i, e in enumerate(script.events) if e["type"] == "response.output_text.delta")
    script.delay, script.ttfb = DELTA_S, max(0.0, LLM_S - first * DELTA_S)  # first delta at LLM_S exactly
    return script


def search_script(wire: Wire) -> Any:
    """The hosted web search as the model streams it: its item LLM_S after the request, the search SEARCH_S, the
    first text delta LLM_S after the search ends (the model reads the results), then a delta every DELTA_S."""
    script = wire.web_search(SEARCH_ANSWER, query=SEARCH_QUERY, seconds=SEARCH_S)
    added = next(i for i, e in enumerate(script.events) if e["type"] == "response.output_item.added")
    completed = script.index("response.web_search_call.completed")
    first = next(i for i, e in enumerate(script.events) if e["type"] == "response.output_text.delta")
    script.delay, script.ttfb = DELTA_S, max(0.0, LLM_S - added * DELTA_S)
    script.pauses[first] = max(0.0, LLM_S - (first - completed) * DELTA_S)
    return script


def light_call(wire: Wire) -> Any:
    """The model's function call to the MCP server's light, its first event LLM_S after the request."""
    script = wire.calls(("home_light_set", {"on": True, "brightness": None}))
    script.delay, script.ttfb = DELTA_S, LLM_S
    return script


def one_run(out: Path, mode: Mode) -> tuple[Measure, Run]:
    mic = out / "mic.wav"
    last_voiced, pause = mic_wav(mic, mode.paused, mode.question)
    with ExitStack() as stack:
        cloud = stack.enter_context(FakeCloud())
        realtime = stack.enter_context(FakeRealtime(api_key=KEY))
        speech_ws = stack.enter_context(FakeStreamInputTTS())
        server, wire = ResponsesServer(cloud), Wire()
        extra, config = {}, mode.config()
        if mode.mcp:
            url = stack.enter_context(mcp_home(out / "home.json"))
            extra, config = {"APPLIANCE_SECRET__MCP__HOME": MCP_TOKEN}, config + mode.mcp_config(url)
            server.then(light_call(wire))
        for _ in range(4):
            server.then(search_script(wire) if mode.search else answer_script(wire))
        cloud.default("transcriptions", lambda r: Json({"text": mode.question}, ttfb=STT_S))
        cloud.default("tts", lambda r: tts(pcm(2.0), ttfb=TTS_S))
        phrases = (PAUSE_BEFORE, QUESTION[len(PAUSE_BEFORE) :].strip()) if mode.paused else (mode.question,)
        realtime.default(RealtimeScript(phrases=phrases, latency=STT_S))
        speech_ws.default(Fault(first_audio_delay=TTS_S))
        responses_ws = ResponsesWsServer(server)
        sockets = OpenAiSockets(realtime, responses_ws)
        try:
            env = appliance_env(
                {
                    **cloud.env(),
                    "OPENAI_WEBSOCKET_BASE_URL": sockets.url,
                    "ELEVENLABS_WEBSOCKET_BASE_URL": speech_ws.url,
                    **extra,
                },
                home=out,
            )
            state = out / "state"
            if mode.cached_replies:
                keep_replies(state / "phrases")
            if mode.search:
                keep_filler(state / "phrases")
            result = run(out, mic, "--pace", "1", "--state-dir", str(state), env=env, config=config)
        finally:
            sockets.close()
            responses_ws.close()
        paths = (
            f"stt: {len(realtime.sessions)} ws/{len(cloud.of('transcriptions'))} http; "
            f"model: {len(responses_ws.received)} ws/{len(cloud.of('responses'))} http; "
            f"speech: {len(speech_ws.connections)} ws/{len(cloud.of('tts'))} http"
        )
        if mode.mcp and '"on": true' not in (out / "home.json").read_text():
            raise RuntimeError(f"the MCP server's light was not turned on:\n{result.stderr[-3000:]}")
    return measure(result, last_voiced, pause, paths), result


@contextmanager
def mcp_home(state: Path) -> Iterator[str]:
    """tests/mcp_home.py over streamable HTTP on 127.0.0.1 (checks the bearer token); yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "mcp_home.py"), "--state", str(state), "http", "--port", "0"]
        + ["--token", MCP_TOKEN],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = proc.stderr.readline().split()[1]
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def keep_replies(directory: Path) -> None:
    """The local commands' common replies as a device has them after its first synthesis (the stand-in's
    speech audio, stored by the appliance's own phrase cache)."""
    from appliance.local.replies import REPLIES
    from appliance.speech.phrases import PhraseCache

    cache = PhraseCache(directory, REPLIES)
    for key in REPLIES:
        cache.store(key, np.frombuffer(pcm(1.2, seed=len(key)), dtype="<i2"), 24_000)


def keep_filler(directory: Path) -> None:
    """The web search's filler phrase as a device has it after its first synthesis (1.2 s of the stand-in's
    speech audio)."""
    from appliance.speech.phrases import SEARCH_FILLER, PhraseCache

    PhraseCache(directory).store(SEARCH_FILLER, np.frombuffer(pcm(1.2, seed=11), dtype="<i2"), 24_000)


def measure(result: Run, last_voiced: float, pause: float | None, paths: str) -> Measure:
    """The figures of one run. A question cut at its pause is measured from the end of the words before the
    pause (what the appliance took for the end), and flagged."""
    turns = [t for t in result.of("turn") if t.get("outcome") == "answered"]
    recordings = result.of("recording")
    if not turns or not recordings or not result.of("ready"):
        raise RuntimeError(f"no answered turn ({[e['event'] for e in result.events]}):\n{result.stderr[-3000:]}")
    timings = turns[0]  # the turn event carries its spans at the top level
    rec, ready = recordings[0], result.of("ready")[0]
    cut = bool(rec["end"] < last_voiced or len(recordings) > 1)
    if cut and pause is not None:
        last_voiced = pause
    spoken_at = ready["t"] + last_voiced - FRAME_SECONDS  # as a real microphone would hear it (see above)
    eos_to_eot = (rec["t"] - spoken_at) * 1000
    eot = result.of("end_of_turn")
    stt = timings.get("stt_ms")
    first = timings.get("transcript_to_first_delta_ms")
    with wave.open(str(result.speaker)) as w:
        speaker_s = w.getnframes() / w.getframerate()
    filler = timings.get("end_of_speech_to_filler_ms")
    return Measure(
        eos_to_eot=eos_to_eot,
        audio_wait=(rec["end"] - last_voiced) * 1000,
        eos_to_audio=eos_to_eot + timings["end_of_speech_to_first_audio_ms"],
        wait_reported=eot[0]["wait_ms"] if eot else None,
        reason=eot[0]["reason"] if eot else rec["reason"],
        transcript_ms=stt,
        final_after_end=timings.get("transcript_final_after_end_ms"),
        to_delta=stt + first if stt is not None and first is not None else None,
        delta_to_audio=timings.get("first_delta_to_first_audio_ms"),
        cut=cut,
        paths=paths,
        speaker_s=speaker_s,
        eos_to_filler=None if filler is None else eos_to_eot + filler,
        search_ms=timings.get("search_ms"),
    )


def med(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def table(results: dict[str, list[Measure]]) -> str:
    rows = [
        "| mode | end of speech → first audio (ms) | endpointing wait (ms): measured (audio + lag) / reported "
        "| end of turn → transcript (ms) | transcript → first text delta (ms) | first text delta → first audio (ms) "
        "| end of turn by | cut? |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, ms in results.items():
        mode = MODES[key]
        target = TARGETS.get(key)
        eos = med([m.eos_to_audio for m in ms])
        mark = "" if target is None or eos is None else (" ✓" if eos <= target else " ✗") + f" (≤ {target:,.0f})"
        wait = med([m.eos_to_eot for m in ms])
        wmark = (
            ""
            if mode.paused or mode.endpoint != "semantic" or wait is None
            else (" ✓" if wait <= TARGETS["wait"] else " ✗")
        )
        delta = med([m.delta_to_audio for m in ms])
        dmark = (
            ""
            if mode.transport != "websocket" or delta is None
            else (" ✓" if delta <= TARGETS["delta"] else " ✗") + f" (≤ {TARGETS['delta']:.0f})"
        )
        transcript = med([m.transcript_ms for m in ms])
        model = med(
            [None if m.to_delta is None or m.transcript_ms is None else m.to_delta - m.transcript_ms for m in ms]
        )
        reasons = ", ".join(sorted({m.reason for m in ms}))
        cuts = sum(m.cut for m in ms)
        cut = f"yes, {cuts} of {len(ms)} (measured from the pause)" if cuts else "no"
        if cuts and target is not None:
            mark = " ✗ (cut)"
        audio = med([m.audio_wait for m in ms])
        lag = med([m.eos_to_eot - m.audio_wait for m in ms])  # the appliance's processing behind the audio
        rows.append(
            f"| ({key}) {mode.title} | {fmt(eos)}{mark} | {fmt(wait)}{wmark} ({fmt(audio)} + {fmt(lag)}) / "
            f"{fmt(med([m.wait_reported for m in ms]))} | {fmt(transcript)} | {fmt(model)} | {fmt(delta)}{dmark} "
            f"| {reasons} | {cut} |"
        )
    return "\n".join(rows)


def search_table(results: dict[str, list[Measure]]) -> str:
    """The web-search modes: the first sound (filler or answer), each of them, the search as the turn saw it."""
    rows = [
        "| mode | end of speech → first sound (ms) | → filler (ms) | → first answer audio (ms) | search (ms) "
        "| filler heard |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, ms in results.items():
        if not MODES[key].search:
            continue
        heard = sum(m.eos_to_filler is not None for m in ms)
        rows.append(
            f"| ({key}) {MODES[key].title} | {fmt(med([m.eos_to_sound for m in ms]))} "
            f"| {fmt(med([m.eos_to_filler for m in ms]))} | {fmt(med([m.eos_to_audio for m in ms]))} "
            f"| {fmt(med([m.search_ms for m in ms]))} | {heard} of {len(ms)} |"
        )
    return "\n".join(rows) if len(rows) > 2 else ""


def waterfall(results: dict[str, list[Measure]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [
        ("end of turn: audio heard after the last word", "#8c8c8c"),
        ("end of turn: processing behind the audio", "#c7c7c7"),
        ("transcript ready", "#4c72b0"),
        ("model to first text delta", "#dd8452"),
        ("first delta to first audio", "#55a868"),
    ]
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.8 * len(results)))
    labels = []
    for row, (key, ms) in enumerate(results.items()):
        ordered = sorted(ms, key=lambda m: m.eos_to_audio)
        m = ordered[len(ordered) // 2]  # the median run
        eot = m.eos_to_eot
        edges = [
            0.0,
            min(m.audio_wait, eot),
            eot,
            eot + (m.transcript_ms or 0.0),
            eot + (m.to_delta or 0.0),
            m.eos_to_audio,
        ]
        for i, (name, colour) in enumerate(stages):
            width = edges[i + 1] - edges[i]
            ax.barh(
                row, width, left=edges[i], color=colour, edgecolor="white", height=0.6, label=name if row == 0 else None
            )
            if width > 70:
                ax.text(
                    edges[i] + width / 2,
                    row,
                    f"{width:.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if i == 1 else "white",
                )
        ax.text(m.eos_to_audio + 20, row, f"{m.eos_to_audio:,.0f} ms", va="center", fontsize=9)
        labels.append(f"({key}) {MODES[key].title}" + ("\n[cut at the pause]" if m.cut else ""))
    for x, style, side in ((900, ":", "right"), (1200, "--", "left")):
        ax.axvline(x, color="#c44e52", linestyle=style, linewidth=1)
        ax.text(
            x + (8 if side == "left" else -8),
            -0.55,
            f"target {x} ms",
            color="#c44e52",
            fontsize=8,
            ha=side,
            va="bottom",
        )
    ax.set_yticks(range(len(results)), labels)
    ax.set_ylim(len(results) - 0.5, -0.8)
    ax.set_xlabel("ms after the end of speech (the median run of each mode; stages from the turn's events)")
    ax.set_title(
        f"End of speech → first audio, one turn per mode\ninjected: transcription {STT_S * 1000:.0f} ms, "
        f"model {LLM_S * 1000:.0f} ms to its first delta, speech {TTS_S * 1000:.0f} ms to its first audio",
        fontsize=10,
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8, ncol=3, frameon=False)
    ax.set_xlim(0, max(m.eos_to_audio for ms in results.values() for m in ms) * 1.12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="abcdeklm")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "latency.png")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    parser.add_argument("--replot", type=Path, default=None, help="table and picture from a --json file, no runs")
    args = parser.parse_args()
    if args.replot:
        saved = json.loads(args.replot.read_text())
        replotted = {k: [Measure(**m) for m in v] for k, v in saved.items()}
        print(table(replotted))
        print(search_table(replotted))
        waterfall(replotted, args.png)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    results: dict[str, list[Measure]] = {}
    for key in args.modes:
        mode = MODES[key]
        for i in range(args.runs):
            out = tmp / f"{key}{i}"
            out.mkdir()
            m, _ = one_run(out, mode)
            results.setdefault(key, []).append(m)
            print(
                f"({key}) run {i + 1}: end of speech → first audio {m.eos_to_audio:.0f} ms, end of turn "
                f"{m.eos_to_eot:.0f} ms ({m.reason}), transcript {fmt(m.transcript_ms)}, delta → audio "
                f"{fmt(m.delta_to_audio)}, filler {fmt(m.eos_to_filler)}, cut {m.cut}; {m.paths}",
                file=sys.stderr,
                flush=True,
            )
    print(table(results))
    searches = search_table(results)
    if searches:
        print(
            f"\n{searches}\n\nWeb search injected: {SEARCH_S * 1000:.0f} ms of search, the model's first text "
            f"{LLM_S * 1000:.0f} ms after it."
        )
    print(
        f"\nInjected: transcription {STT_S * 1000:.0f} ms (batch: to the transcript; streaming: commit → "
        f"transcript), model {LLM_S * 1000:.0f} ms to its first text delta (then {DELTA_S * 1000:.0f} ms "
        f"between events), speech {TTS_S * 1000:.0f} ms to the first audio (HTTP and WebSocket). "
        f"Median of {args.runs} runs per mode."
    )
    for key, ms in results.items():
        print(
            f"({key}) per run, end of speech → first audio: {[round(m.eos_to_audio) for m in ms]} ms; "
            f"transports used: {ms[0].paths}"
        )
    if args.json:
        args.json.write_text(json.dumps({k: [vars(m) for m in v] for k, v in results.items()}, indent=1))
    waterfall(results, args.png)
    print(f"\nwaterfall: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
