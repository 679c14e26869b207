"""Local commands through the whole appliance (real wiring, WAV microphone and speaker, the fake cloud with
the real SDKs): a timer set by voice without a model request, and the next question's request carries that
exchange, so "make it fifteen minutes instead" reaches the model in context."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_timers_e2e import Running, speak_everything

from appliance.events import Answer, Info, TimerChanged, Turn
from standin.responses import ResponsesServer, Wire
from standin.speech import transcript
from standin.voice import concat, room, silence, synth, write_wav

pytestmark = pytest.mark.slow

FIRST = "Set a timer for ten minutes."
SECOND = "Make it fifteen minutes instead."


@pytest.fixture(scope="module")
def two_questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "local.wav"
    first = room(concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth(FIRST)), snr_db=45, lead=3.0, tail=4.0)
    second = room(
        concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth(SECOND)), snr_db=45, lead=0.5, tail=3.0, seed=1
    )
    write_wav(path, concat(first, second, silence(20.0)))
    return path


def test_a_local_timer_needs_no_model_and_the_next_question_knows_it(
    cloud, tmp_path, two_questions, monkeypatch
) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.script("transcriptions", transcript(FIRST), transcript(SECOND))
    speak_everything(cloud)
    server.then(wire.calls(("add_time_to_timer", {"seconds": 300})), wire.text("It is fifteen minutes now."))
    run = Running(cloud, tmp_path, two_questions, monkeypatch)
    try:
        first = run.events.wait_for(lambda e: isinstance(e, Turn), 60)
        assert isinstance(first, Turn) and first.outcome == "answered"
        assert server.bodies() == []  # the model was not asked
        local = [e for e in run.events.of(Info) if e.what == "local_command"]
        assert [e.detail for e in local] == ["timer_start"]
        assert [e.text for e in run.events.of(Answer)] == ["The timer is set for 10 minutes."]
        assert [(e.action, e.seconds) for e in run.events.of(TimerChanged)] == [("set", 600)]
        assert "end_of_speech_to_first_audio_ms" in first.timings
        assert run.ports.timers is not None and [t.seconds for t in run.ports.timers.running()] == [600]

        turns = run.events.wait_for(lambda e: isinstance(e, Turn) and e is not first, 60)
        assert isinstance(turns, Turn) and turns.outcome == "answered"
        bodies = server.bodies()
        assert len(bodies) == 2  # the question, then the tool's output
        assert bodies[0]["input"][:3] == [
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": "The timer is set for 10 minutes."},
            {"role": "user", "content": SECOND},
        ]
        assert [t.seconds for t in run.ports.timers.running()] == [900]
        assert all(i.get("role") != "assistant" for i in bodies[1]["input"])  # carried once, not again
    finally:
        run.stop()
