"""End to end on the real CLI: `appliance run --mic X.wav --events E.jsonl` on a WAV that says "hey jarvis"
and then a question wakes on the real model and records the question, with the pre-roll and endpointing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from standin.headless import ROOT, appliance_env
from standin.voice import concat, room, silence, synth, voiced_span, write_wav

pytestmark = pytest.mark.slow


def appliance_command() -> list[str]:
    """The installed console script (what `uv run appliance` runs), or the module where it is missing."""
    script = Path(sys.executable).parent / "appliance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "appliance"]


@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_wake_word_then_question_is_recorded_from_before_the_question_to_after_it(tmp_path, voice):
    wake, question = synth("Hey Jarvis!", voice=voice), synth("What is the tallest mountain on Earth?", voice=voice)
    lead, pause = 1.0, 0.3
    audio = room(concat(wake, silence(pause), question), lead=lead, tail=2.5)
    q_offset = lead + (len(wake) + round(pause * 16000)) / 16000
    q_start, q_end = (q_offset + t for t in voiced_span(question))
    mic, events = write_wav(tmp_path / "mic.wav", audio), tmp_path / "events.jsonl"

    cmd = [
        *appliance_command(),
        "run",
        "--mic",
        str(mic),
        "--events",
        str(events),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    # the fixed trailing silence: this test is about the wake word, the pre-roll and the recording's window;
    # the turn model's judgement of synthesized speech is tested in test_turn_detection and the e2e tests
    env = {**appliance_env(home=tmp_path), "APPLIANCE_ENDPOINT__MODE": "silence"}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    log = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    assert all("t" in e and "event" in e for e in log)

    wakes = [e for e in log if e["event"] == "wake"]
    assert len(wakes) == 1, wakes
    assert wakes[0]["source"] == "wake_word" and wakes[0]["model"] == "hey_jarvis"
    assert 0.5 <= wakes[0]["score"] <= 1.0

    recordings = [e for e in log if e["event"] == "recording"]
    assert len(recordings) == 1, recordings
    rec = recordings[0]
    assert rec["start"] < q_start - 0.2, (rec, q_start)  # the pre-roll reaches back before the question
    assert rec["start"] > lead - 0.2  # ... but not to the silence before the wake word
    assert q_end < rec["end"] <= q_end + 1.0, (rec, q_end)  # ends after the question, within a second
    assert rec["reason"] == "speech_ended"
    # the wake came first, then the listening state and the recording, in that order
    names = [e["event"] for e in log]
    assert names.index("wake") < names.index("recording")
    states = [e["state"] for e in log if e["event"] == "state"]
    assert states[:2] == ["idle", "listening"] and "thinking" in states
