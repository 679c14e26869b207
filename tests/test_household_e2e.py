"""Three real appliance processes in one household (issue #30): headless, each with its own WAV microphone
playing one recording at its own level, all starting it at the same wall-clock moment (``--mic-start-at``).
Over loopback multicast, and (where user and network namespaces can be made: ``unshare -rnm``) each in its
own network namespace on a Linux bridge. netem is not in this kernel (no ``sch_netem``), so packet loss and
its faults are the transport's own seeded drop (``household.simulate_loss``, tests/test_household.py). Only
the loudest answers; the others send nothing to the stand-in cloud and play nothing. Announcements reach every
device, a busy one says so."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.wavfile import read_wav
from appliance.host.control_client import request as ctl_request
from standin.cloud import Stall
from standin.headless import appliance_env, read_events, start
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, noise, silence, synth, write_wav

# three appliance processes a test: one such test at a time when the suite runs in several processes
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("household-e2e")]
SECRET = "a household secret for the tests"
NAMES = ("kitchen", "hall", "office")
START_DELAY = 20.0  # seconds from launch to the recording's start: three processes load their models meanwhile


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def config(name: str, port: int, wake_threshold: float | None = None, **extra: object) -> str:
    lines = ["[household]", "enabled = true", f'device = "{name}"', f"port = {port}", 'interface = "127.0.0.1"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    if wake_threshold is not None:
        lines += ["[wake]", f"threshold = {wake_threshold}"]
    return "\n".join(lines) + '\n[endpoint]\nmode = "silence"\n'


def mic(path: Path, speech: np.ndarray, gain_db: float, seed: int, lead: float = 3.0) -> Path:
    """What one device hears: the speech at ``gain_db``, over its own room noise (-55 dBFS)."""
    voice = np.round(speech.astype(np.float64) * 10 ** (gain_db / 20))
    floor = noise(lead + len(speech) / 16000 + 4.0, -55.0, seed=seed).astype(np.float64)
    audio = floor.copy()
    at = round(lead * 16000)
    audio[at : at + len(voice)] += voice
    return write_wav(path, np.clip(audio, -32768, 32767).astype(np.int16))


class Household:
    def __init__(self, tmp_path: Path, cloud, port: int, *, sockets: bool = False, **settings: object) -> None:
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.events: dict[str, Path] = {}
        self.speakers: dict[str, Path] = {}
        self.sockets: dict[str, str] = {}
        self.tmp, self.cloud, self.port, self.with_sockets, self.settings = tmp_path, cloud, port, sockets, settings

    def start(
        self, name: str, wav: Path, start_at: float, secret: str | None = SECRET, wake_threshold: float | None = None
    ) -> None:
        home = self.tmp / name
        home.mkdir()
        env = {**self.cloud.env(), **({"APPLIANCE_SECRET__HOUSEHOLD__SECRET": secret} if secret else {})}
        args = ["--mic-start-at", f"{start_at:.3f}"]
        if self.with_sockets:
            self.sockets[name] = str(home / "ctl.sock")
            args += ["--control-socket", self.sockets[name]]
        proc, events, speaker = start(
            home,
            wav,
            *args,
            env=appliance_env(env, home=home),
            config=config(name, self.port, wake_threshold, **self.settings),
        )
        self.procs[name], self.events[name], self.speakers[name] = proc, events, speaker

    def wait(self, timeout: float = 120.0) -> dict[str, list[dict]]:
        errors = {}
        for name, proc in self.procs.items():
            try:
                _out, errors[name] = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
                raise AssertionError(f"{name} did not finish; stderr:\n{err[-3000:]}") from None
            assert proc.returncode == 0, errors[name][-3000:]
        self.stderr = errors
        return {name: read_events(path) for name, path in self.events.items()}

    def ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name, path in self.events.items():
            while not any(e["event"] == "ready" for e in read_events(path)):
                assert time.monotonic() < deadline, f"{name} was not ready in time"
                time.sleep(0.1)

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def of(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


def said(events: list[dict], text: str) -> bool:
    return any(text in str(e.get("text", "")) for e in events if e["event"] in ("sentence", "answer"))


def heard(path: Path) -> float:
    samples, _rate = read_wav(path)
    return float(np.abs(samples).max()) if len(samples) else 0.0  # full scale = 1


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return concat(synth("Hey Jarvis!"), silence(0.4), synth("What is the tallest mountain on Earth?"))


@pytest.mark.parametrize("seed, diff_db", [(1, 6.0), (2, 2.0)])
def test_three_devices_hear_one_question_and_only_the_loudest_answers(tmp_path, cloud, question, seed, diff_db):
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
    cloud.default("tts", lambda r: tts(pcm(0.4, seed=len(r.body) % 7)))
    server.then(wire.text("Mount Everest."))
    rng = np.random.default_rng(seed)
    order = [NAMES[i] for i in rng.permutation(3)]  # the loudest first
    gains = {order[0]: -6.0, order[1]: -6.0 - diff_db, order[2]: -6.0 - diff_db - float(rng.uniform(0, 4))}
    house = Household(tmp_path, cloud, free_port())
    start_at = time.time() + START_DELAY
    try:
        for n, name in enumerate(NAMES):
            house.start(name, mic(tmp_path / f"{name}.wav", question, gains[name], seed * 10 + n), start_at)
        events = house.wait()
    finally:
        house.kill()
    for name in NAMES:
        assert of(events[name], "wake"), f"{name} did not hear the wake word: {house.stderr[name][-2000:]}"
    decided = {name: of(events[name], "arbitration")[0] for name in NAMES}
    answered = [name for name in NAMES if decided[name]["won"]]
    assert len(answered) == 1, decided  # never double, never silent
    winner = answered[0]
    loudest = order[0]
    # the loudest answers; the one case it may not is the protocol's own: its loop heard the wake word after
    # another device's window had closed (a process starved of CPU on this shared machine), and then it stays
    # silent rather than answer twice
    assert winner == loudest or decided[loudest]["reason"] == "late", (decided, gains)
    assert of(events[winner], "turn")[-1]["outcome"] == "answered"
    assert heard(house.speakers[winner]) > 0.03  # the chime and the answer
    for name in NAMES:
        if name == winner:
            continue
        assert decided[name]["winner"] == winner, decided
        assert not of(events[name], "recording") and not of(events[name], "turn")
        assert "listening" not in [e["state"] for e in of(events[name], "state")]
        assert heard(house.speakers[name]) == 0.0  # no chime, nothing
    # the stand-in cloud heard one question, from the winner
    assert len(cloud.of("transcriptions")) == 1 and len(server.requests) == 1
    for name in NAMES:
        assert SECRET not in house.stderr[name]
        assert SECRET not in house.events[name].read_text()


def test_the_loudest_answers_though_its_own_model_does_not_fire_first(tmp_path, cloud, question):
    # the two farther devices wake on a low threshold (0.3), the nearest only on a score of 1.0: the farther
    # ones claim the wake word first, and the nearest, whose model scored it too and heard it 4 dB louder,
    # claims it as heard at the same moment and answers (household.heard_too_score)
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
    cloud.default("tts", lambda r: tts(pcm(0.4)))
    server.then(wire.text("Mount Everest."))
    gains = {"kitchen": -6.0, "hall": -10.0, "office": -12.0}
    house = Household(tmp_path, cloud, free_port(), window_ms=150)
    start_at = time.time() + START_DELAY
    try:
        for n, name in enumerate(NAMES):
            wav = mic(tmp_path / f"{name}.wav", question, gains[name], 40 + n)
            house.start(name, wav, start_at, wake_threshold=1.0 if name == "kitchen" else 0.3)
        events = house.wait()
    finally:
        house.kill()
    decided = {name: of(events[name], "arbitration")[0] for name in NAMES if of(events[name], "arbitration")}
    answered = [name for name in decided if decided[name]["won"]]
    assert len(answered) == 1, decided  # never double, never silent
    winner = answered[0]
    if "kitchen" in decided and decided["kitchen"]["reason"] == "late":
        # the one way the nearest may not answer: its loop ran so far behind on a loaded machine that it had
        # not scored the words before the first claimer's window ended (it must not join a decided wake word)
        assert winner != "kitchen"
    else:
        assert set(decided) == set(NAMES), (decided, house.stderr["kitchen"][-2000:])
        assert winner == "kitchen", decided
        assert of(events["kitchen"], "wake")[0]["score"] < 1.0  # not its own model's wake word: it heard it too
    assert of(events[winner], "turn")[-1]["outcome"] == "answered"
    for name in NAMES:
        if name != winner:
            assert not of(events[name], "turn") and heard(house.speakers[name]) == 0.0
    assert len(cloud.of("transcriptions")) == 1 and len(server.requests) == 1


def test_without_the_secret_a_device_answers_alone_and_says_why(tmp_path, cloud, question):
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
    cloud.default("tts", lambda r: tts(pcm(0.4)))
    server.then(wire.text("Mount Everest."), wire.text("Mount Everest."))
    house = Household(tmp_path, cloud, free_port())
    start_at = time.time() + START_DELAY
    try:
        house.start("kitchen", mic(tmp_path / "k.wav", question, -6.0, 1), start_at)
        house.start("hall", mic(tmp_path / "h.wav", question, -12.0, 2), start_at, secret=None)
        events = house.wait()
    finally:
        house.kill()
    # the hall has no secret: it answers alone (never silent), and its log says why
    assert "APPLIANCE_SECRET__HOUSEHOLD__SECRET is not set" in house.stderr["hall"]
    assert not of(events["hall"], "arbitration") and of(events["hall"], "turn")[-1]["outcome"] == "answered"
    # the kitchen hears no claim from it (it sends none) and answers too: a double answer, never a silence
    assert of(events["kitchen"], "arbitration")[0]["won"]
    assert len(cloud.of("transcriptions")) == 2


def test_announce_to_all_with_one_device_busy(tmp_path, cloud):
    server = ResponsesServer(cloud)
    cloud.default("tts", lambda r: tts(pcm(0.4)))
    cloud.default("transcriptions", transcript("unused"))
    server.then(Stall(20.0))  # the office's question hangs: it is thinking
    house = Household(tmp_path, cloud, free_port(), sockets=True)
    start_at = time.time() + 1.0
    try:
        for n, name in enumerate(NAMES):
            house.start(name, write_wav(tmp_path / f"{name}.wav", noise(40.0, -60.0, seed=n)), start_at)
        house.ready(60.0)
        busy = ctl_request(house.sockets["office"], "ask", ["What is the tallest mountain on Earth?"])
        assert busy["ok"], busy
        reply = ctl_request(house.sockets["kitchen"], "announce", ["--all", "Dinner is ready"])
        got = {d["device"]: d["status"] for d in reply["devices"]}
        assert got == {"kitchen": "played", "hall": "played", "office": "busy (thinking)"}, reply
        assert not reply["ok"]  # not played everywhere
        for name in ("kitchen", "hall"):  # the speech reaches both speakers
            deadline = time.monotonic() + 20
            while not said(read_events(house.events[name]), "Dinner is ready") and time.monotonic() < deadline:
                time.sleep(0.1)
        for proc in house.procs.values():
            proc.terminate()
        events = house.wait(30.0)
    finally:
        house.kill()
    assert of(events["kitchen"], "announced")[0]["devices"] == got
    assert said(events["kitchen"], "Dinner is ready") and said(events["hall"], "Dinner is ready")
    assert not said(events["office"], "Dinner is ready")
    assert heard(house.speakers["hall"]) > 0.03 and heard(house.speakers["kitchen"]) > 0.03


def test_the_model_tells_everyone(tmp_path, cloud):
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("tts", lambda r: tts(pcm(0.4)))
    cloud.default("transcriptions", transcript("unused"))
    server.then(wire.calls(("tell_everyone", {"message": "Dinner is ready."})), wire.text("I told everyone."))
    house = Household(tmp_path, cloud, free_port(), sockets=True)
    start_at = time.time() + 1.0
    try:
        for n, name in enumerate(NAMES[:2]):
            house.start(name, write_wav(tmp_path / f"{name}.wav", noise(40.0, -60.0, seed=n)), start_at)
        house.ready(60.0)
        assert ctl_request(house.sockets["kitchen"], "ask", ["Tell everyone dinner is ready"])["ok"]
        deadline = time.monotonic() + 30
        while not of(read_events(house.events["kitchen"]), "turn") and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in house.procs.values():
            proc.terminate()
        events = house.wait(30.0)
    finally:
        house.kill()
    assert [c["name"] for c in of(events["kitchen"], "tool_call")] == ["tell_everyone"]
    output = [i for i in server.bodies()[1]["input"] if i.get("type") == "function_call_output"]
    assert output and output[0]["output"] == "Played on hall."
    assert said(events["hall"], "Dinner is ready.") and not said(events["kitchen"], "Dinner is ready.")
    assert said(events["kitchen"], "I told everyone.")


def namespaces_problem() -> str:
    """Why three network namespaces on a bridge cannot be made here ("" = they can)."""
    import shutil

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (iproute2) is not installed"
    probe = subprocess.run(["unshare", "-rnm", "true"], capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"no user and network namespaces here: {probe.stderr.strip()[:200]}"


@pytest.mark.skipif(bool(namespaces_problem()), reason=namespaces_problem() or "namespaces available")
def test_three_devices_in_their_own_network_namespaces_on_a_bridge(tmp_path):
    """The same household over veth pairs and a Linux bridge instead of the loopback (standin/netns_household.py:
    d0 is 6 and 9 dB louder than d1 and d2)."""
    import json
    import sys

    from standin.headless import ROOT

    driver = [sys.executable, "-m", "standin.netns_household", str(tmp_path)]
    done = subprocess.run(
        ["unshare", "-rnm", "--propagation", "private", *driver], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    decided = {}
    for name in ("d0", "d1", "d2"):
        assert result[name]["returncode"] == 0, (tmp_path / name / "stderr.txt").read_text()[-2000:]
        decided[name] = of(result[name]["events"], "arbitration")[0]
    answered = [name for name, d in decided.items() if d["won"]]
    assert len(answered) == 1, decided
    assert answered == ["d0"] or decided["d0"]["reason"] == "late", decided  # see the loopback test
    for name in ("d0", "d1", "d2"):
        if name not in answered:
            assert not of(result[name]["events"], "recording") and not of(result[name]["events"], "turn")
    assert result["transcriptions"] == 1 and result["responses"] == 1
