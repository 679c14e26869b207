"""Offline mode through the whole appliance (real wiring, WAV microphone and speaker, real sockets): the cloud's
port refuses connections, so the questions are recognised on the device (pocketsphinx on piper's voice); the
commands set, query and cancel a timer and change the volume; anything else gets the offline sentence; then the
stand-in cloud starts on that port, the probe notices, and the next question goes to the model."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from test_timers_e2e import Running

from appliance.audio.wavfile import wav_bytes
from appliance.events import Info, Network, TimerChanged, Transcript, Turn
from appliance.local.matcher import CommandMatcher
from appliance.local.offline.grammar import digits
from appliance.local.offline.phrases import OFFLINE_HELP, offline_phrases
from appliance.local.replies import REPLIES
from appliance.speech.phrases import PHRASES, write_atomically
from standin.cloud import FakeCloud
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, room, silence, synth, write_wav

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Set a timer for ten minutes.",
    "How long is left on the timer?",
    "Turn the volume up.",
    "What's the weather like tomorrow?",
    "Cancel the timer.",
]
ONLINE = "Tell me a joke."


class Offline:
    """The cloud's addresses on a port where nothing listens (yet): every connection is refused."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.port}"
        return {
            "OPENAI_API_KEY": "sk-test-fakecloud-0123456789",
            "ELEVENLABS_API_KEY": "el-test-fakecloud-0123456789",
            "OPENAI_BASE_URL": url + "/v1",
            "ELEVENLABS_BASE_URL": url,
        }


def cached_speech(state: Path) -> set[str]:
    """The phrase cache as a device that was online once has it: every phrase (a distinct tone each here)."""
    folder = state / "phrases"
    folder.mkdir(parents=True)
    keys = {*PHRASES, *REPLIES, *offline_phrases(["pasta", "tea"])}
    for i, key in enumerate(sorted(keys)):
        audio = np.frombuffer(pcm(0.15, rate=16000, seed=i % 40), dtype="<i2")
        assert write_atomically(folder, f"{key}.wav", wav_bytes(audio, 16000))
    return keys


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "offline.wav"
    parts = []
    for i, text in enumerate([*QUESTIONS, ONLINE]):
        spoken = concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth(text))
        # the first question finds the network down (the upload's retries, then the recogniser loads): a longer
        # pause after it; after each, time for the answer on a loaded machine, so no wake word stops it
        parts.append(room(spoken, snr_db=45, lead=2.5 if i == 0 else 1.0, tail=12.0 if i == 0 else 8.0, seed=i))
        if text == ONLINE:
            parts.insert(-1, silence(4.0))  # the network comes back meanwhile
    write_wav(path, concat(*parts, silence(20.0)))
    return path


def test_commands_work_offline_and_the_next_question_goes_to_the_model_once_it_is_back(
    tmp_path: Path, questions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline = Offline()
    cached_speech(tmp_path / "state")
    config = "[local]\noffline_probe_seconds = 0.5\noffline_probe_max_seconds = 1.0\n"
    run = Running(offline, tmp_path, questions, monkeypatch, config=config)
    cloud: FakeCloud | None = None
    try:
        turns: list[Turn] = []
        for _ in QUESTIONS:
            done = run.events.wait_for(lambda e: isinstance(e, Turn) and e not in turns, 90)
            assert isinstance(done, Turn)
            turns.append(done)
        story = [
            f"{e.name}:{getattr(e, 'state', getattr(e, 'what', getattr(e, 'outcome', '')))}" for e in run.events.events
        ]
        assert [t.outcome for t in turns] == ["answered", "answered", "answered", "offline", "answered"], story
        assert [e.online for e in run.events.of(Network)] == [False]
        heard = [CommandMatcher().match(digits(e.text)) for e in run.events.of(Transcript)]
        assert [(c.intent.value, c.seconds) for c in heard if c is not None] == [
            ("timer_start", 600),
            ("timer_status", None),
            ("volume_up", None),
            ("timer_cancel", None),
        ]
        local = [e.detail for e in run.events.of(Info) if e.what == "local_command"]
        assert local == ["timer_start", "timer_status", "volume_up", "timer_cancel"]
        assert [(e.action, e.seconds) for e in run.events.of(TimerChanged)][:1] == [("set", 600)]
        assert run.ports.timers is not None and run.ports.timers.running() == []
        assert any(e.what == "offline" and e.detail == "not a command" for e in run.events.of(Info))

        # the network is back: the stand-in starts on the refused port; the probe finds it
        cloud = FakeCloud(port=offline.port).start()
        server, wire = ResponsesServer(cloud), Wire()
        cloud.default("transcriptions", transcript(ONLINE))
        cloud.default("tts", lambda r: tts(pcm(0.4, seed=len(r.body) % 7)))
        server.then(wire.text("Why did the chicken cross the road?"))
        back = run.events.wait_for(lambda e: isinstance(e, Network) and e.online, 30)
        assert isinstance(back, Network)
        last = run.events.wait_for(lambda e: isinstance(e, Turn) and e not in turns, 90)
        assert isinstance(last, Turn) and last.outcome == "answered"
        assert len(server.bodies()) == 1  # the model was asked again
        assert run.app.ports.offline is not None and run.app.ports.offline.online
    finally:
        run.stop()
        if cloud is not None:
            cloud.stop()


def test_offline_help_is_cached_with_the_other_phrases() -> None:
    phrases = offline_phrases(["pasta"])
    assert phrases[OFFLINE_HELP].startswith("I'm offline right now")
    assert "clip_pasta" in phrases and "clip_forty_five" in phrases
