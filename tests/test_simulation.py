"""`scripts/run` off a Pi: the simulation (scripts/simulate.py) runs the real appliance on a synthesized spoken
question against the local stand-ins, with no API keys, and ends on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.audio.wavfile import read_wav

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_the_simulation_answers_its_question_out_loud_without_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ELEVENLABS_API_KEY")}
    env["SIMULATE_OUT"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "simulate.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    transcripts = [e["text"] for e in events if e["event"] == "transcript"]
    assert transcripts[:1] == ["What do you see?"]
    tools = [e["name"] for e in events if e["event"] == "tool_call"]
    assert tools[:1] == ["describe_image"]
    turns = [e for e in events if e["event"] == "turn"]
    assert turns and turns[0]["outcome"] == "answered"
    assert not [e for e in events if e["event"] == "error"]
    samples, rate = read_wav(tmp_path / "answer.wav")
    assert len(samples) / rate > 1.0  # piper's voice saying the answer
    assert "a local stand-in cloud answers" in proc.stdout
