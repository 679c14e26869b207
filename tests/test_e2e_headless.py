"""The real `appliance run` in headless mode: WAV in, WAV out, events out, mock GPIO (issue 3)."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from appliance.audio.wavfile import read_wav
from standin.headless import appliance_env, read_events, run, start
from standin.voice import concat, silence, synth, write_wav


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "question.wav"
    audio = concat(
        silence(1.0), synth("Hey Jarvis!"), silence(0.4), synth("What is the tallest mountain on Earth?"), silence(2.5)
    )
    write_wav(path, audio)
    return path


def test_runs_headless_without_keys_and_ends_the_turn_with_an_error(tmp_path, question_wav):
    result = run(tmp_path, question_wav)
    assert result.returncode == 0, result.stderr[-2000:]
    names = [e["event"] for e in result.events]
    assert names[0] == "ready"
    assert all("t" in e for e in result.events)
    wake = result.of("wake")
    assert wake and wake[0]["score"] > 0.5 and wake[0]["model"] == "hey_jarvis"
    assert result.states()[:3] == ["idle", "listening", "thinking"]
    assert result.states()[-1] == "idle"
    errors = result.of("error")
    assert errors and errors[0]["kind"] == "auth" and "OPENAI_API_KEY" in errors[0]["message"]
    turns = result.of("turn")
    assert turns and turns[-1]["outcome"] == "error"
    # the missing key is named with how to set it, once, in the log
    assert result.stderr.count("OPENAI_API_KEY is not set") >= 1
    assert "Traceback" not in result.stderr
    # the chime and the error sound were played to the speaker file
    samples, rate = read_wav(result.speaker)
    assert rate == 24000 and np.abs(samples).max() > 0.05


def test_sigterm_stops_cleanly_within_two_seconds(tmp_path):
    mic = tmp_path / "long.wav"
    write_wav(mic, silence(60.0))
    proc, events, _speaker = start(tmp_path, mic, env=appliance_env(home=tmp_path))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e["event"] == "ready" for e in read_events(events)):
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert any(e["event"] == "ready" for e in read_events(events)), proc.stderr.read()[-2000:]
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert took < 2.0
    assert read_events(events)[-1]["event"] in ("stopped", "state")
    assert any(e["event"] == "stopped" and e["reason"] == "SIGTERM" for e in read_events(events))


def test_appliance_ctl_against_a_running_appliance(tmp_path):
    import json
    import subprocess
    import sys

    mic = tmp_path / "long.wav"
    write_wav(mic, silence(30.0))
    sock = str(tmp_path / "ctl.sock")
    proc, events, _speaker = start(tmp_path, mic, "--control-socket", sock, env=appliance_env(home=tmp_path))

    def ctl(*args):
        return subprocess.run(
            [sys.executable, "-m", "appliance", "ctl", "--socket", sock, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    try:
        deadline = time.monotonic() + 60
        while not any(e["event"] == "ready" for e in read_events(events)) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.05)
        status = ctl("status")
        assert status.returncode == 0, status.stderr
        reply = json.loads(status.stdout)
        assert reply["state"] == "idle" and reply["ready"] is True and reply["muted"] is False
        assert ctl("press").returncode == 0
        while not any(e.get("state") == "listening" for e in read_events(events)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(e.get("state") == "listening" and e.get("reason") == "ctl" for e in read_events(events))
        assert ctl("bogus").returncode == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert ctl("status").returncode == 1  # the socket is gone with the appliance
