"""The real `appliance run` with ``debug.keep_audio`` on and a debugging folder that cannot take the question:
the question is answered all the same, with one log line and no traceback (issue #31: the WAV was written
outside any error handling, so a full or unwritable folder failed every question with an internal error)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from standin.headless import appliance_env, read_events
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, room, synth, write_wav

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "q.wav"
    speech = concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth("What is the tallest mountain on Earth?"))
    write_wav(path, room(speech, snr_db=45, lead=0.8, tail=3.0))
    return path


def full_tmpfs(folder: Path) -> list[str]:
    """A command prefix: a private mount namespace with a 256 KiB tmpfs on ``folder``, filled up to the last
    byte by a file that is not the appliance's (so making room cannot help)."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.decode().strip()}")
    fill = f'(dd if=/dev/zero of="{folder}/fill" bs=4k 2>/dev/null; true)'  # dd ends with ENOSPC
    script = f'mount -t tmpfs -o size=256k tmpfs "{folder}" && {fill} && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh"]


@pytest.mark.parametrize("folder", ["under_a_file", "full"])
def test_the_question_is_answered_when_the_debug_folder_cannot_keep_it(cloud, tmp_path, question_wav, folder):
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
    cloud.default("tts", lambda r: tts(pcm(0.4, seed=len(r.body) % 7)))
    server.then(wire.text("Mount Everest is the tallest."))
    prefix: list[str] = []
    if folder == "under_a_file":
        (tmp_path / "a-file").write_text("not a folder")  # root writes where chmod forbids; not under a file
        debug_dir = tmp_path / "a-file" / "debug"
    else:
        debug_dir = tmp_path / "debug"
        debug_dir.mkdir()
        prefix = full_tmpfs(debug_dir)
    config = tmp_path / "config.toml"
    config.write_text(f'[debug]\nkeep_audio = true\ndir = "{debug_dir}"\n')
    events = tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "appliance", "run", "--config", str(config), "--mic", str(question_wav)]
    cmd += ["--speaker", str(tmp_path / "speaker.wav"), "--events", str(events), "--pace", "2"]
    proc = subprocess.run(
        prefix + cmd + ["--state-dir", str(tmp_path / "state")],
        cwd=ROOT,
        env=appliance_env(cloud.env(), home=tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = read_events(events)
    turns = [e for e in got if e["event"] == "turn"]
    assert turns and turns[0]["outcome"] == "answered", proc.stderr[-3000:]
    assert [e for e in got if e["event"] == "error"] == []
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "cannot keep question-" in line]
    reason = "Not a directory" if folder == "under_a_file" else "No space left on device"
    assert len(lines) == 1 and reason in lines[0], proc.stderr[-3000:]
