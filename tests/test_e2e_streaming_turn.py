"""The end of a question with streaming transcription, through the real `appliance run`: the realtime stand-in
transcribes each committed stretch of speech (found in the audio it received), the turn model and the transcript
decide together when the question is over (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from standin.cloud import FakeCloud
from standin.headless import appliance_env, run
from standin.openai_ws import OpenAiSockets
from standin.realtime import FakeRealtime
from standin.realtime import Script as RealtimeScript
from standin.responses import ResponsesServer, Wire
from standin.responses_ws import ResponsesWsServer
from standin.speech import pcm, transcript, tts
from standin.turns import complete, paused
from standin.voice import RATE, concat, noise, synth, write_wav

pytestmark = pytest.mark.slow
KEY = "sk-test-fakecloud-0123456789"
# generous waits for the transcript: the behaviour is under test here, not the timing (a loaded machine can
# take longer than the defaults, which scripts/bench_latency.py measures)
CONFIG = """
[stt]
mode = "streaming"
realtime_finish_timeout = 5.0
[endpoint]
mode = "semantic"
transcript_wait = 2.0
[assistant]
transport = "http"
[tts]
transport = "http"
[local]
enabled = false  # "Can you set a timer for ten minutes?" is a local command: the model must be asked here
"""
LEAD = 3.0  # room noise first: the turn model and the SDKs load in the background after start-up


def mic(path, sample) -> float:
    """Wake word, then the question; returns the microphone second where its last word ends."""
    lead = concat(noise(LEAD, -60.0, seed=3), synth("Hey Jarvis!"), noise(0.4, -60.0, seed=4))
    write_wav(path, concat(lead, sample.pcm))
    return len(lead) / RATE + sample.speech_end


def converse(tmp_path, sample, phrases, pace="1"):
    """``pace`` below 1 plays the microphone slower than real time: more wall time for the stand-in's
    transcript to arrive within a pause on a loaded machine (the audio, and so the decisions, are the same)."""
    wav = tmp_path / "mic.wav"
    last_word = mic(wav, sample)
    with FakeCloud() as cloud, FakeRealtime(api_key=KEY) as realtime:
        server, wire = ResponsesServer(cloud), Wire()
        server.then(wire.text("It is sunny in Paris today."))
        cloud.default("transcriptions", transcript("the upload must not be needed"))
        cloud.default("tts", lambda r: tts(pcm(0.4)))
        realtime.default(RealtimeScript(phrases=phrases, latency=0.3))
        responses_ws = ResponsesWsServer(server)
        sockets = OpenAiSockets(realtime, responses_ws)
        try:
            env = appliance_env({**cloud.env(), "OPENAI_WEBSOCKET_BASE_URL": sockets.url}, home=tmp_path)
            result = run(tmp_path, wav, "--pace", pace, env=env, config=CONFIG)
        finally:
            sockets.close()
            responses_ws.close()
        sessions = list(realtime.sessions)
        uploads = len(cloud.of("transcriptions"))
        asked = [r.json["input"] for r in cloud.of("responses")]
    assert result.returncode == 0, result.stderr[-3000:]
    return result, last_word, sessions, uploads, asked


def test_a_pause_after_a_dangling_word_is_held_and_the_whole_question_is_answered(tmp_path):
    """The synthesized "Can you set a timer for" ends on a falling pitch: the turn model calls the pause
    complete, the transcript of the words so far ("... for") holds the turn, and the rest of the question
    follows."""
    sample = paused("Can you set a timer for ten minutes?", "Can you set a timer for", 1.5, "piper")
    result, last_word, sessions, uploads, asked = converse(
        tmp_path, sample, ("Can you set a timer for", "ten minutes?")
    )
    recordings = result.of("recording")
    assert len(recordings) == 1 and recordings[0]["end"] > last_word, "the question was cut at its pause"
    eot = result.of("end_of_turn")[0]
    assert eot["held"] is True
    assert result.of("transcript")[0]["text"] == "Can you set a timer for ten minutes?"
    assert "Can you set a timer for ten minutes?" in str(asked[0])
    assert uploads == 0 and len(sessions) == 1 and len(sessions[0].commits) >= 2
    assert result.of("turn")[0]["outcome"] == "answered"


def test_a_finished_question_is_transcribed_at_its_pause_and_the_silence_after_it_is_not_sent(tmp_path):
    sample = complete("What time is it?", "piper", tail=3.0)
    result, last_word, sessions, uploads, asked = converse(tmp_path, sample, ("What time is it?",))
    eot = result.of("end_of_turn")[0]
    # "complete" at once, or the long pause if the stand-in's transcript came late on a loaded machine
    assert eot["reason"] in ("complete", "pause") and eot["held"] is False
    assert result.of("transcript")[0]["text"] == "What time is it?"
    # one commit, at the pause the model judged: its transcript is the question; the trailing silence the
    # listener waited out is never committed
    assert uploads == 0 and len(sessions) == 1 and len(sessions[0].commits) == 1
    assert sessions[0].commits[0] * RATE >= 0.5 * RATE
    turn = result.of("turn")[0]
    assert turn["outcome"] == "answered" and turn["transcript_segments"] == 1
    assert np.isfinite(turn["transcript_final_after_end_ms"])
