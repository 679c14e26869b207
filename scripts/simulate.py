#!/usr/bin/env python3
"""The appliance simulated on any machine: `scripts/run` starts this where there is no Pi.

A synthesized voice asks two questions into the WAV microphone ("Hey Jarvis, what do you see?" and a
follow-up), GPIO runs on gpiozero's mock pins, the camera returns tests/data/x.jpg, the answer is written
to run/answer.wav and the events to run/events.jsonl (and shown here as they happen). With OPENAI_API_KEY
and ELEVENLABS_API_KEY set, the real cloud answers; without them a local stand-in of the cloud does: the
question streams to a realtime-transcription stand-in while it is spoken, the answers come over the Responses
WebSocket stand-in, and they are spoken with the offline piper voice over the HTTP speech path (the
WebSocket speech stand-in makes tones, not words).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from standin.cloud import FakeCloud, Json, Stream  # noqa: E402
from standin.openai_ws import OpenAiSockets  # noqa: E402
from standin.realtime import FakeRealtime  # noqa: E402
from standin.realtime import Script as RealtimeScript  # noqa: E402
from standin.responses import ResponsesServer, Wire  # noqa: E402
from standin.responses_ws import ResponsesWsServer  # noqa: E402
from standin.voice import concat, room, synth, write_wav  # noqa: E402

OUT = Path(os.environ.get("SIMULATE_OUT") or ROOT / "run")  # where the run goes (tests set it)
QUESTIONS = ["What do you see?", "What time is it?"]


class StandIns:
    """The HTTP stand-in cloud and the WebSocket ones beside it, started and stopped together."""

    def __init__(self) -> None:
        self.cloud = FakeCloud().start()
        server = configure(self.cloud)
        self.realtime = FakeRealtime(api_key=self.cloud.env()["OPENAI_API_KEY"]).start()
        self.realtime.script(*(RealtimeScript(phrases=(q,), latency=0.3) for q in QUESTIONS))
        self.responses_ws = ResponsesWsServer(server)
        self.sockets = OpenAiSockets(self.realtime, self.responses_ws)

    def env(self) -> dict[str, str]:
        return {
            **self.cloud.env(),
            "OPENAI_WEBSOCKET_BASE_URL": self.sockets.url,
            "APPLIANCE_TTS__SAMPLE_RATE": "16000",  # piper's rate: the stand-in speaks with it
            "APPLIANCE_TTS__TRANSPORT": "http",
        }

    def stop(self) -> None:
        self.sockets.close()
        self.responses_ws.close()
        self.realtime.stop()
        self.cloud.stop()


def configure(cloud: FakeCloud) -> ResponsesServer:
    """Transcribes the scripted questions (if the stream fails), answers with a tool call each, speaks with
    piper."""
    transcripts = iter(QUESTIONS)
    cloud.default("transcriptions", lambda r: Json({"text": next(transcripts, "")}))

    def speak(request):
        text = json.loads(request.body)["text"]
        audio = synth(text)  # 16 kHz; ask the appliance for pcm_16000 below
        data = audio.astype("<i2").tobytes()
        return Stream([data[i : i + 3200] for i in range(0, len(data), 3200)], content_type="audio/pcm")

    cloud.default("tts", speak)
    wire = Wire()
    server = ResponsesServer(cloud)
    server.then(
        wire.calls(("describe_image", {"question": "What do you see?"}), text="Let me look."),
        wire.text("I see a red circle on a white background. Anything else?"),
        wire.calls(("get_current_time", {})),
        wire.text("It's time for a cup of tea."),
    )
    return server


def main() -> int:
    OUT.mkdir(exist_ok=True)
    mic = OUT / "question.wav"
    gap = np.zeros(6400, np.int16)
    write_wav(
        mic,
        concat(
            # a few seconds of room first: the appliance warms its cloud clients and models up after start
            room(concat(synth("Hey Jarvis!"), gap, synth(QUESTIONS[0])), lead=4.0, tail=7.0),
            room(synth(QUESTIONS[1]), lead=0.2, tail=6.0, seed=3),
        ),
    )
    env = dict(os.environ)
    cloud = None
    if not (env.get("OPENAI_API_KEY") and env.get("ELEVENLABS_API_KEY")):
        print("simulate: no API keys in the environment: a local stand-in cloud answers (offline voice)")
        cloud = StandIns()
        env.update(cloud.env())
    env.setdefault("GPIOZERO_PIN_FACTORY", "mock")
    env.setdefault("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    events = OUT / "events.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--mic",
        str(mic),
        "--speaker",
        str(OUT / "answer.wav"),
        "--events",
        str(events),
        "--camera",
        str(ROOT / "tests" / "data" / "x.jpg"),
        "--state-dir",
        str(OUT / "state"),
        *sys.argv[1:],
    ]
    print("simulate:", " ".join(cmd[2:]))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    shown = 0
    try:
        while True:
            done = proc.poll() is not None
            lines = events.read_text().splitlines() if events.exists() else []
            for line in lines[shown:]:
                event = json.loads(line)
                detail = {k: v for k, v in event.items() if k not in ("t", "event")}
                print(f"  {event['t']:7.2f}s  {event['event']:<10} {json.dumps(detail, ensure_ascii=False)}")
            shown = len(lines)
            if done:
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
    finally:
        if cloud is not None:
            cloud.stop()
    print(f"simulate: the appliance exited with {proc.returncode}; heard: {OUT / 'answer.wav'}, events: {events}")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
