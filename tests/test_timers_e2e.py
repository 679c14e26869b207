"""Timers through the whole appliance: the model sets one with the real SDK against the fake cloud, the
alarm is heard on time, a press stops it; timers survive a restart; announcements.

The appliance is built by the real wiring (WAV microphone and speaker, gpiozero's mock pins, the fake
cloud), in this process, so the test can read when the speaker heard each sound (``WavSpeaker.journal``)
on the same monotonic clock as the timer's deadline.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.earcons import alarm, announce_chime
from appliance.audio.wavfile import WavSpeaker
from appliance.config.settings import load
from appliance.core.app import App
from appliance.events import EventBus, Recorder, StateChanged, TimerChanged
from appliance.host.wiring import RunOptions, build
from standin.cloud import FakeCloud
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, room, silence, synth, write_wav

pytestmark = pytest.mark.slow


class Running:
    def __init__(
        self, cloud: FakeCloud, tmp_path: Path, mic: Path, monkeypatch: pytest.MonkeyPatch, config: str = ""
    ) -> None:
        monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
        monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
        cfg = tmp_path / "config.toml"
        cfg.write_text(config)
        self.settings = load(cfg, env=cloud.env())
        self.events = Recorder()
        bus = EventBus()
        bus.subscribe(self.events)
        options = RunOptions(
            mic=str(mic), speaker=str(tmp_path / "out.wav"), pace=1.0, state_dir=str(tmp_path / "state")
        )
        self.app, self.ports = build(self.settings, options, bus)
        self.thread = threading.Thread(target=self.app.run, daemon=True)
        self.thread.start()

    @property
    def speaker(self) -> WavSpeaker:
        speaker = getattr(self.ports.speaker, "inner", self.ports.speaker)  # under the front end's reference
        assert isinstance(speaker, WavSpeaker)
        return speaker

    def wait_state(self, state: str, timeout: float = 30.0, after: int = 0) -> StateChanged:
        event = self.events.wait_for(
            lambda e: isinstance(e, StateChanged) and e.state == state and self.events.events.index(e) >= after, timeout
        )
        assert isinstance(event, StateChanged)
        return event

    def alarm_plays(self) -> list[float]:
        """When each alarm round started to be heard (the alarm is the only sound of its length)."""
        n = len(alarm()[0])
        return [at for at, _offset, samples in list(self.speaker.journal) if samples == n]

    def stop(self) -> None:
        self.app.shutdown("test")
        self.thread.join(10)


def app_of(running: Running) -> App:
    return running.app


@pytest.fixture(scope="module")
def timer_question(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "timer.wav"
    spoken = room(
        concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth("Set a pasta timer for three seconds.")),
        snr_db=45,
        lead=0.8,
        tail=1.0,
    )
    write_wav(path, concat(spoken, silence(40.0)))
    return path


@pytest.fixture(scope="module")
def quiet_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "quiet.wav"
    write_wav(path, silence(60.0))
    return path


def speak_everything(cloud: FakeCloud) -> None:
    cloud.default("tts", lambda r: tts(pcm(0.4, seed=len(r.body) % 7)))


def test_the_model_sets_a_timer_it_rings_on_time_and_a_press_stops_it(
    cloud, tmp_path, timer_question, monkeypatch
) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("Set a pasta timer for three seconds."))
    speak_everything(cloud)
    server.then(wire.calls(("set_timer", {"seconds": 3, "label": "pasta"})), wire.text("Your pasta timer is set."))
    # the sentence is a local command too (tests/test_local_e2e.py): here the model must be the one asked
    run = Running(cloud, tmp_path, timer_question, monkeypatch, config="[local]\nenabled = false\n")
    try:
        set_event = run.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "set", 40)
        assert isinstance(set_event, TimerChanged) and set_event.label == "pasta" and set_event.seconds == 3
        assert run.ports.timers is not None
        [timer] = run.ports.timers.running()
        due = timer.due
        saved = json.loads((tmp_path / "state" / "timers.json").read_text())
        assert [t["label"] for t in saved["timers"]] == ["pasta"]
        run.wait_state("alerting", timeout=15)
        deadline = time.monotonic() + 5
        while not run.alarm_plays() and time.monotonic() < deadline:
            time.sleep(0.02)
        first = run.alarm_plays()[0]
        assert abs(first - due) <= 0.1, f"the alarm was heard {first - due:+.3f} s from the deadline"
        ended = [e for e in run.events.of(TimerChanged) if e.action == "ended"]
        assert [e.label for e in ended] == ["pasta"]
        # the timer's own sentence is spoken after the first round of the alarm
        run.events.wait_for(lambda e: getattr(e, "text", "") == "Your pasta timer is done.", 10)
        mark = len(run.events.events)
        app_of(run).press()
        run.wait_state("idle", timeout=5, after=mark)
        pressed = time.monotonic()
        time.sleep(1.5)  # two alarm rounds' worth of time: none may start after the press
        assert all(at < pressed for at in run.alarm_plays())
        assert json.loads((tmp_path / "state" / "timers.json").read_text())["timers"] == []
    finally:
        run.stop()


def test_a_timer_set_before_a_restart_rings_after_it_and_a_missed_one_rings_once(
    cloud, tmp_path, quiet_mic, monkeypatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    now = time.time()
    (state / "timers.json").write_text(
        json.dumps(
            {
                "version": 1,
                "next_id": 3,
                "timers": [
                    {
                        "id": 1,
                        "label": "bread",
                        "seconds": 600,
                        "due_wall": now - 30,
                    },  # ended while the appliance was off
                    {"id": 2, "label": "tea", "seconds": 240, "due_wall": now + 4},  # still running: 4 s left
                ],
            }
        )
    )
    speak_everything(cloud)
    run = Running(cloud, tmp_path, quiet_mic, monkeypatch, config="[timers]\nring_seconds = 3\n")
    try:
        missed = run.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "missed", 20)
        assert isinstance(missed, TimerChanged) and missed.label == "bread"
        resumed = [e for e in run.events.of(TimerChanged) if e.action == "resumed"]
        assert [e.label for e in resumed] == ["tea"] and 2.0 < resumed[0].left <= 4.0
        first = run.wait_state("alerting", timeout=20)
        run.events.wait_for(lambda e: getattr(e, "text", "") == "Your bread timer ended while I was switched off.", 10)
        # nobody stops it: it stops by itself after ring_seconds, then the tea timer rings in turn
        after = run.events.events.index(first) + 1
        run.wait_state("idle", timeout=15, after=after)
        ended = run.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "ended", 15)
        assert isinstance(ended, TimerChanged) and ended.label == "tea"
        assert len([e for e in run.events.of(TimerChanged) if e.action == "missed"]) == 1  # rings once
    finally:
        run.stop()


def test_announce_plays_a_chime_and_speaks_and_never_overlaps_an_answer(
    cloud, tmp_path, quiet_mic, monkeypatch
) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    gate = threading.Event()

    def slow_speech(request):  # the answer's speech takes a while, so the announcement arrives during it
        gate.wait(10)
        return tts(pcm(0.6, seed=3))

    speak_everything(cloud)
    server.then(wire.text("Here is a long answer."))
    run = Running(cloud, tmp_path, quiet_mic, monkeypatch)
    try:
        run.wait_state("idle")
        reply = app_of(run).command("announce", ["Dinner", "is", "ready."])
        assert reply == {"ok": True}
        run.events.wait_for(lambda e: getattr(e, "text", "") == "Dinner is ready.", 10)
        deadline = time.monotonic() + 10
        while not any(json.loads(r.body)["text"] == "Dinner is ready." for r in cloud.of("tts")):
            assert time.monotonic() < deadline, "the announcement was never synthesized"
            time.sleep(0.02)
        chime_samples = [s for _at, _o, s in list(run.speaker.journal)]
        assert len(announce_chime()[0]) in chime_samples  # the chime came first
        cloud.default("tts", slow_speech)
        assert app_of(run).command("ask", ["Tell me something"])["ok"] is True
        run.wait_state("thinking")
        busy = app_of(run).command("announce", ["Phone call."])
        assert busy["ok"] is False and busy["error"].startswith("busy")
        gate.set()
        run.wait_state("idle", after=len(run.events.events) - 1)
        assert not any(json.loads(r.body)["text"] == "Phone call." for r in cloud.of("tts"))
        listed = app_of(run).command("timers")
        assert listed == {"ok": True, "text": "No timers are running.", "timers": []}
    finally:
        run.stop()


def saved_labels(tmp_path: Path) -> list[str]:
    return [t["label"] for t in json.loads((tmp_path / "state" / "timers.json").read_text())["timers"]]


def test_a_timer_that_ends_during_a_turn_survives_a_stop_before_the_turn_is_over(
    cloud, tmp_path, quiet_mic, monkeypatch
) -> None:
    """Issue #31: the timer left the file when it ended, though it only rings once the turn is over; a stop
    (or crash) in between lost it. Now it stays until it has rung, and the next start rings it as missed."""
    server, wire = ResponsesServer(cloud), Wire()
    gate = threading.Event()

    def slow_speech(request):  # the answer is still being spoken when the timer ends
        gate.wait(20)
        return tts(pcm(0.4, seed=3))

    cloud.default("tts", slow_speech)
    server.then(wire.calls(("set_timer", {"seconds": 1, "label": "tea"})), wire.text("Your tea timer is set."))
    run = Running(cloud, tmp_path, quiet_mic, monkeypatch)
    try:
        run.wait_state("idle")
        assert app_of(run).command("ask", ["Set a tea timer for one second and tell me a story"])["ok"]
        ended = run.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "ended", 20)
        assert isinstance(ended, TimerChanged) and ended.label == "tea"
        assert app_of(run).state in ("thinking", "speaking")  # it waits for the turn to end
        assert saved_labels(tmp_path) == ["tea"]
    finally:
        run.stop()
        gate.set()
    assert saved_labels(tmp_path) == ["tea"]  # the stop came before it rang

    speak_everything(cloud)
    again = Running(cloud, tmp_path, quiet_mic, monkeypatch, config="[timers]\nring_seconds = 3\n")
    try:
        missed = again.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "missed", 20)
        assert isinstance(missed, TimerChanged) and missed.label == "tea"
        again.wait_state("alerting", timeout=20)
        assert saved_labels(tmp_path) == []  # it rang: it leaves the file (before the state changes)
    finally:
        again.stop()


def test_unmuting_rings_a_timer_that_ended_while_another_rang_muted(cloud, tmp_path, quiet_mic, monkeypatch) -> None:
    """Issue #31: a short press rang the second timer, unmuting dropped it from the queue and the file."""
    speak_everything(cloud)
    run = Running(cloud, tmp_path, quiet_mic, monkeypatch)
    try:
        run.wait_state("idle")
        assert app_of(run).command("mute")["ok"] is True
        timers = run.ports.timers
        assert timers is not None
        timers.set(1, "eggs")
        timers.set(2, "rice")
        for label in ("eggs", "rice"):
            run.events.wait_for(lambda e, x=label: isinstance(e, TimerChanged) and (e.action, e.label) == ("ended", x))
        deadline = time.monotonic() + 5  # the ended event comes just before the app is told: wait for it
        while not app_of(run).snapshot.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        s = app_of(run).snapshot
        assert s.state == "muted" and s.alert is not None and [a.label for a in s.pending] == ["rice"]
        mark = len(run.events.events)
        assert app_of(run).command("unmute")["ok"] is True
        run.wait_state("alerting", timeout=5, after=mark)  # rice rings now
        assert saved_labels(tmp_path) == []  # both rang
        app_of(run).press()
        run.wait_state("idle", timeout=5, after=mark + 1)
    finally:
        run.stop()


def test_a_hostile_timers_file_never_stops_the_appliance(cloud, tmp_path, quiet_mic, monkeypatch) -> None:
    """Issue #31: an id of 1e400 failed the start (exit 1, restarted by systemd every 3 s forever); a
    deadline of 1e12 or Infinity killed the countdown. Bad entries are dropped; the good ones still ring."""
    state = tmp_path / "state"
    state.mkdir()
    now = time.time()
    (state / "timers.json").write_text(
        '{"version": 1, "next_id": 1e400, "timers": ['
        f'{{"id": 1e400, "label": "a", "seconds": 60, "due_wall": {now + 30}}}, '
        '{"id": 2, "label": "b", "seconds": 60, "due_wall": 1e12}, '
        '{"id": 3, "label": "c", "seconds": 60, "due_wall": Infinity}, '
        f'{{"id": 4, "label": "bread", "seconds": 600, "due_wall": {now - 30}}}]}}'
    )
    speak_everything(cloud)
    run = Running(cloud, tmp_path, quiet_mic, monkeypatch, config="[timers]\nring_seconds = 3\n")
    try:
        missed = run.events.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "missed", 20)
        assert isinstance(missed, TimerChanged) and missed.label == "bread"
        run.wait_state("alerting", timeout=20)
        assert run.ports.timers is not None and run.ports.timers.running() == []
        assert saved_labels(tmp_path) == []  # bread rang; the rest was dropped
        assert not [e for e in run.events.of(TimerChanged) if e.action == "resumed"]
    finally:
        run.stop()
