"""Engines by name and what leaves the process, through the real `appliance run` against the fake cloud:
an API key echoed in a TTS error body, a TTS that answers 200 with a JSON document, and the piper engine
selected by `tts.provider` with no ElevenLabs key at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from appliance.audio.wavfile import read_wav
from standin.headless import appliance_env, run
from standin.responses import ResponsesServer, Wire
from standin.speech import echo_key_error, transcript, tts_json_error
from standin.voice import concat, room, synth, write_wav

pytestmark = pytest.mark.slow
PACE = "2"
ANSWER = "Mount Everest is the tallest."


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "q.wav"
    write_wav(
        path,
        room(
            concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth("What is the tallest mountain on Earth?")),
            snr_db=45,
            lead=0.8,
            tail=3.0,
        ),
    )
    return path


def answering(cloud):
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
    server.then(wire.text(ANSWER))


def test_an_api_key_echoed_in_a_tts_error_never_reaches_the_events_file_or_the_log(cloud, tmp_path, question_wav):
    answering(cloud)
    cloud.default("tts", echo_key_error(401))
    result = run(
        tmp_path, question_wav, "--pace", PACE, "--log-level", "DEBUG", env=appliance_env(cloud.env(), home=tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    key = cloud.env()["ELEVENLABS_API_KEY"]
    assert cloud.of("tts") and key in cloud.of("tts")[0].headers["xi-api-key"]
    errors = [e for e in result.of("error") if e["stage"] == "tts"]
    assert errors and errors[0]["kind"] == "auth" and "***" in errors[0]["message"]  # the echo, scrubbed
    events_text = (tmp_path / "events.jsonl").read_text()
    assert key not in events_text and key not in result.stderr
    assert result.of("answer")[0]["text"] == ANSWER and result.states()[-1] == "idle"


def test_a_tts_200_with_a_json_body_is_one_error_and_poisons_nothing(cloud, tmp_path, question_wav):
    answering(cloud)
    cloud.default("tts", tts_json_error("quota_exceeded"))
    result = run(tmp_path, question_wav, "--pace", PACE, env=appliance_env(cloud.env(), home=tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(e["kind"], e["stage"]) for e in result.of("error")] == [("tts", "tts")]
    assert result.of("answer")[0]["text"] == ANSWER and result.states()[-1] == "idle"
    phrases = tmp_path / "state" / "phrases"
    assert not phrases.exists() or not any(phrases.glob("*.wav"))
    samples, rate = read_wav(result.speaker)
    # the chime and the error tone are all that was played: nothing after them is loud noise
    assert not np.any(np.abs(samples) > 0.99)


def test_piper_speaks_the_answer_with_no_elevenlabs_key(cloud, tmp_path, question_wav):
    answering(cloud)
    env = {k: v for k, v in cloud.env().items() if not k.startswith("ELEVENLABS_")}
    result = run(
        tmp_path,
        question_wav,
        "--pace",
        PACE,
        config='[tts]\nprovider = "piper"\n',
        env=appliance_env(env, home=tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.states() == ["idle", "listening", "thinking", "speaking", "idle"]
    assert result.of("error") == [] and cloud.of("tts") == []
    assert "ELEVENLABS_API_KEY" not in result.stderr  # not selected, so not needed
    samples, rate = read_wav(result.speaker)
    assert len(samples) / rate > 1.0  # the chime and the spoken sentence
    assert json.dumps(result.of("turn")[0]).count("answered") == 1
