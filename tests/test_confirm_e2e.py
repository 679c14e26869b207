"""Confirmation by voice for what cannot be undone (issue #27, part 3), through the whole appliance: the real
wiring in this process (WAV microphone and speaker, gpiozero's mock pins), the fake cloud with the real SDKs,
and the real MCP test server over stdio, whose lock is marked destructive. The model calls the lock; the
appliance asks "Run lock set with locked false?" and listens without the wake word: a clear yes unlocks the
door (its state file says so) and the model hears the tool's output with the "yes"; no, silence or a press
while the question is spoken leave it locked, and the model is told it was not done."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_timers_e2e import Running

from appliance.events import Info, Sentence, StateChanged, Turn
from appliance.tools.confirm import NOT_CONFIRMED_OUTPUT
from standin.cloud import FakeCloud
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, room, silence, synth, write_wav

pytestmark = pytest.mark.slow

HOME = Path(__file__).resolve().parent / "mcp_home.py"
QUESTION = "Unlock the front door."
ASKED = "Run lock set with locked false?"
WAIT = 60.0


def mic(path: Path, answer: str | None) -> Path:
    """The question after the MCP server had time to start, then (6 s later: the question asked by then)
    the answer, without the wake word."""
    asked = room(concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth(QUESTION)), snr_db=45, lead=6.0, tail=6.0)
    parts = [asked]
    if answer is not None:
        parts.append(room(synth(answer), snr_db=45, lead=0.2, tail=0.5, seed=1))
    write_wav(path, concat(*parts, silence(25.0)))
    return path


def start(cloud: FakeCloud, tmp_path: Path, audio: Path, monkeypatch: pytest.MonkeyPatch, follow: float) -> Running:
    state = tmp_path / "home.json"
    command = json.dumps([sys.executable, str(HOME), "--state", str(state), "stdio"])
    config = f"[wake]\nfollow_up_seconds = {follow}\n\n[mcp.servers.home]\ncommand = {command}\n"
    return Running(cloud, tmp_path, audio, monkeypatch, config=config)


def lock(tmp_path: Path) -> dict[str, Any]:
    """The lock as the MCP server keeps it (locked until the server writes its first state)."""
    path = tmp_path / "home.json"
    if not path.exists():
        return {"locked": True}
    data: dict[str, Any] = json.loads(path.read_text())["lock"]
    return data


def outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {item["call_id"]: item["output"] for item in body["input"] if item.get("type") == "function_call_output"}


def turns(run: Running, n: int) -> list[Turn]:
    run.events.wait_for(lambda e: isinstance(e, Turn) and len(run.events.of(Turn)) >= n, WAIT)
    return run.events.of(Turn)


def speak(cloud: FakeCloud, seconds: float = 0.4) -> None:
    cloud.default("tts", lambda r: tts(pcm(seconds, seed=len(r.body) % 7)))


def asked_then(run: Running) -> None:
    """The first turn asked the question, spoken, and did not touch the lock."""
    sentence = run.events.wait_for(lambda e: isinstance(e, Sentence) and e.text == ASKED, WAIT)
    assert sentence is not None
    asked = [e for e in run.events.of(Info) if e.what == "confirmation_asked"]
    assert [e.detail for e in asked] == [f"home_lock_set: {ASKED}"]


def test_yes_runs_the_call_and_the_model_hears_its_output_with_the_yes(cloud, tmp_path, monkeypatch) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.script("transcriptions", transcript(QUESTION), transcript("Yes."))
    speak(cloud)
    call = wire.calls(("home_lock_set", {"locked": False}))
    server.then(call, wire.text("The front door is unlocked."))
    run = start(cloud, tmp_path, mic(tmp_path / "mic.wav", "Yes."), monkeypatch, follow=20.0)
    try:
        asked_then(run)
        first, second = turns(run, 2)[:2]
        assert (first.outcome, second.outcome) == ("answered", "answered")
        assert lock(tmp_path) == {"locked": False}
        assert [e.detail for e in run.events.of(Info) if e.what == "confirmation"] == ["yes"]
        bodies = server.bodies()
        assert len(bodies) == 2
        assert bodies[1]["previous_response_id"] == call.response_id
        assert outputs(bodies[1]) == {call.call_ids[0]: "front door unlocked"}
        assert bodies[1]["input"][-1] == {"role": "user", "content": "Yes."}
        assert [e.text for e in run.events.of(Sentence)][-1] == "The front door is unlocked."
    finally:
        run.stop()


def test_no_leaves_it_undone_and_the_model_is_told(cloud, tmp_path, monkeypatch) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.script("transcriptions", transcript(QUESTION), transcript("No."))
    speak(cloud)
    call = wire.calls(("home_lock_set", {"locked": False}))
    server.then(call, wire.text("All right, it stays locked."))
    run = start(cloud, tmp_path, mic(tmp_path / "mic.wav", "No."), monkeypatch, follow=20.0)
    try:
        asked_then(run)
        turns(run, 2)
        assert [e.detail for e in run.events.of(Info) if e.what == "confirmation"] == ["no"]
        bodies = server.bodies()
        assert len(bodies) == 2
        assert outputs(bodies[1]) == {call.call_ids[0]: NOT_CONFIRMED_OUTPUT}
        assert bodies[1]["input"][-1] == {"role": "user", "content": "No."}
        assert lock(tmp_path) == {"locked": True}
    finally:
        run.stop()


def test_silence_leaves_it_undone_and_the_next_request_says_so(cloud, tmp_path, monkeypatch) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.script("transcriptions", transcript(QUESTION))
    speak(cloud)
    call = wire.calls(("home_lock_set", {"locked": False}))
    server.then(call, wire.text("It is locked."))
    run = start(cloud, tmp_path, mic(tmp_path / "mic.wav", None), monkeypatch, follow=1.0)
    try:
        asked_then(run)
        first, empty = turns(run, 2)[:2]
        assert (first.outcome, empty.outcome) == ("answered", "no_speech")
        run.wait_state("idle", after=run.events.events.index(empty))
        assert run.app.command("ask", ["Is the front door locked?"])["ok"]
        turns(run, 3)
        bodies = server.bodies()
        assert len(bodies) == 2
        assert outputs(bodies[1]) == {call.call_ids[0]: NOT_CONFIRMED_OUTPUT}
        assert [e.detail for e in run.events.of(Info) if e.what == "confirmation"] == []
        assert lock(tmp_path) == {"locked": True}
    finally:
        run.stop()


def test_a_press_during_the_question_cancels_it_and_a_later_yes_does_nothing(cloud, tmp_path, monkeypatch) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.script("transcriptions", transcript(QUESTION), transcript("Yes."))
    speak(cloud, seconds=3.0)  # the question takes 3 s to say: the press comes in the middle of it
    call = wire.calls(("home_lock_set", {"locked": False}))
    server.then(call, wire.text("It is locked."))
    run = start(cloud, tmp_path, mic(tmp_path / "mic.wav", "Yes."), monkeypatch, follow=20.0)
    pressed = threading.Event()

    def press(event: Any) -> None:
        if isinstance(event, Sentence) and event.text == ASKED and not pressed.is_set():
            pressed.set()
            threading.Timer(0.5, run.app.press).start()

    run.app.bus.subscribe(press)
    try:
        asked_then(run)
        (first,) = turns(run, 1)
        assert first.outcome == "cancelled"
        run.wait_state("idle", after=run.events.events.index(first))
        # the "yes" that follows in the room is not heard (no wake word): nothing is listening for it
        time.sleep(9.0)  # until the room's "yes" has been played by the microphone
        assert not [e for e in run.events.of(StateChanged) if e.reason == "follow_up"]
        assert lock(tmp_path) == {"locked": True}
        assert run.app.command("ask", ["Is the front door locked?"])["ok"]
        turns(run, 2)
        bodies = server.bodies()
        assert len(bodies) == 2
        assert outputs(bodies[1]) == {call.call_ids[0]: NOT_CONFIRMED_OUTPUT}
        assert lock(tmp_path) == {"locked": True}
    finally:
        run.stop()
