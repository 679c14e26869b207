"""The fleet metrics (appliance/metrics, issue #30): the exposition read back by prometheus_client's own parser,
the counters moved by real turns of the app, the atomic textfile, the local endpoint, and the fleet table."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_app import Harness, question, quiet, tone

import appliance
from appliance.config.metrics import MetricsSettings, listen_address
from appliance.config.settings import SettingsError, load
from appliance.errors import ErrorKind
from appliance.events import (
    Arbitration,
    Button,
    Error,
    EventBus,
    Info,
    PressKind,
    StateChanged,
    Turn,
    TurnOutcome,
    Wake,
    WakeSource,
)
from appliance.metrics import fleet, system
from appliance.metrics.collector import ApplianceMetrics
from appliance.metrics.exposition import Counter, Histogram, render
from appliance.metrics.http import MetricsServer
from appliance.metrics.service import start_metrics
from appliance.metrics.textfile import TextfileWriter, write_atomically


class FakeThrottling(system.Throttling):
    def __init__(self, bits: int | None) -> None:
        super().__init__(None)
        self.bits = bits

    def read(self) -> int | None:
        return self.bits


def pi_like(tmp_path: Path) -> tuple[Path, Path]:
    """A /sys/class/thermal with a GPU zone first and the CPU's second, and a /proc/self/status."""
    thermal = tmp_path / "thermal"
    for i, (kind, milli) in enumerate((("gpu-thermal", "39000"), ("cpu-thermal", "52612"))):
        zone = thermal / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    status = tmp_path / "status"
    status.write_text("Name:\tpython3\nVmHWM:\t  204800 kB\nVmRSS:\t  153600 kB\nThreads:\t12\n")
    return thermal, status


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as prometheus_client's parser reads it (it raises on anything the format does not allow)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_exposition_parses_and_carries_every_figure(tmp_path):
    thermal, status = pi_like(tmp_path)
    now = [100.0]
    metrics = ApplianceMetrics(
        version="1.2.3",
        clock=lambda: now[0],
        wall=lambda: 1_700_000_000.5,
        thermal=thermal,
        proc_status=status,
        throttling=FakeThrottling(0x50005),  # under-voltage and throttled now; the same since boot
    )
    now[0] = 3_761.25
    text = metrics.exposition()
    samples = parsed(text)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["appliance_turns"] == "counter" and families["appliance_first_audio_seconds"] == "histogram"
    for outcome in TurnOutcome:  # every outcome and error kind from 0: a rate is defined from the first scrape
        assert sample(samples, "appliance_turns_total", outcome=outcome.value) == 0
    assert sample(samples, "appliance_errors_total", kind="auth") == 0
    assert sample(samples, "appliance_info", version="1.2.3") == 1
    assert sample(samples, "appliance_uptime_seconds") == pytest.approx(3_661.25)
    assert sample(samples, "appliance_start_time_seconds") == pytest.approx(1_700_000_000.5)
    assert sample(samples, "appliance_cpu_temperature_celsius") == pytest.approx(52.612)  # the CPU's zone
    assert sample(samples, "appliance_memory_rss_bytes") == 153600 * 1024
    assert sample(samples, "appliance_memory_peak_rss_bytes") == 204800 * 1024
    assert sample(samples, "appliance_throttled", condition="under_voltage") == 1
    assert sample(samples, "appliance_throttled", condition="frequency_capped") == 0
    assert sample(samples, "appliance_throttled", condition="throttled") == 1
    assert sample(samples, "appliance_throttled_since_boot", condition="under_voltage") == 1
    assert sample(samples, "appliance_throttled_since_boot", condition="throttled") == 1
    assert sample(samples, "appliance_throttled_since_boot", condition="soft_temperature_limit") == 0
    assert sample(samples, "appliance_first_audio_seconds_bucket", le="+Inf") == 0
    assert sample(samples, "appliance_arbitration_total", result="won") == 0


def test_off_a_pi_what_the_machine_lacks_is_left_out(tmp_path):
    metrics = ApplianceMetrics(
        thermal=tmp_path / "no-thermal", proc_status=tmp_path / "no-status", throttling=FakeThrottling(None)
    )
    text = metrics.exposition()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "appliance_turns" in names and "appliance_info" in names
    for absent in ("appliance_cpu_temperature_celsius", "appliance_throttled", "appliance_memory_rss_bytes"):
        assert absent not in names and absent not in text


def test_histogram_buckets_are_cumulative_and_labels_are_escaped():
    h = Histogram("x_seconds", "A histogram.", (0.5, 1.0, 2.0))
    for v in (0.2, 0.5, 0.7, 1.5, 9.0):
        h.observe(v)
    c = Counter("y_total", 'Help with a \\ and "quotes".', "what", ["a"])
    c.inc('odd "value"\nwith a \\ in it')
    samples = parsed(render([h.family(), c.family()]))
    assert [sample(samples, "x_seconds_bucket", le=le) for le in ("0.5", "1", "2", "+Inf")] == [2, 3, 4, 5]
    assert sample(samples, "x_seconds_sum") == pytest.approx(11.9)
    assert sample(samples, "x_seconds_count") == 5
    assert sample(samples, "y_total", what='odd "value"\nwith a \\ in it') == 1
    assert sample(samples, "y_total", what="a") == 0
    with pytest.raises(ValueError):
        Counter("bad name", "x")
    with pytest.raises(ValueError):
        Histogram("h", "x", (2.0, 1.0))


def test_the_counters_follow_the_events():
    metrics = ApplianceMetrics(throttling=FakeThrottling(None))
    bus = EventBus()
    bus.subscribe(metrics)
    # an answered question after the wake word
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.9))
    bus.emit(StateChanged("listening", "idle"))
    bus.emit(Turn(1, TurnOutcome.ANSWERED, {"end_of_speech_to_first_audio_ms": 812.0}))
    bus.emit(StateChanged("idle", "speaking"))
    # a wake word and then nothing: a likely false wake
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.6))
    bus.emit(Turn(2, TurnOutcome.NO_SPEECH))
    bus.emit(StateChanged("idle", "listening"))
    # a wake word that stops a ringing timer: no turn, not a false wake
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.8))
    bus.emit(StateChanged("idle", "alerting"))
    # a follow-up without speech (no wake word): not a false wake either
    bus.emit(Turn(3, TurnOutcome.NO_SPEECH))
    # a barge-in: the answer's turn is cancelled, then the new question is answered
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.9))
    bus.emit(Turn(4, TurnOutcome.CANCELLED, {}))
    bus.emit(Turn(5, TurnOutcome.EMPTY_TRANSCRIPT, {}))
    bus.emit(Error(ErrorKind.TIMEOUT, "llm", "slow"))
    bus.emit(Info("tts_fallback", "speaking over HTTP"))
    bus.emit(Info("volume", "0.5"))
    # the household: won against a peer, won alone, lost twice (a lost wake word has no question to wait for)
    bus.emit(Arbitration(True, "best", "kitchen", peers=1, margin_db=4.0, ms=121.0))
    bus.emit(Arbitration(True, "alone", "kitchen", ms=120.0))
    bus.emit(Arbitration(False, "beaten", "hall", peers=1, margin_db=-3.0, ms=20.0))
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.9))
    bus.emit(Arbitration(False, "beaten", "hall", peers=1, margin_db=-2.0, ms=30.0))
    bus.emit(Turn(6, TurnOutcome.NO_SPEECH))  # a press's question later: not the lost wake word's
    # a press while the household decides: the turn is the press's, not the wake word's
    bus.emit(Wake(WakeSource.WAKE_WORD, "hey_jarvis", 0.9))
    bus.emit(Button(PressKind.SHORT))
    bus.emit(Turn(7, TurnOutcome.NO_SPEECH))
    with pytest.raises(ValueError):
        metrics.arbitrated("maybe")
    samples = parsed(metrics.exposition())
    assert sample(samples, "appliance_turns_total", outcome="answered") == 1
    assert sample(samples, "appliance_turns_total", outcome="no_speech") == 4
    assert sample(samples, "appliance_turns_total", outcome="cancelled") == 1
    assert sample(samples, "appliance_wakes_total", source="wake_word") == 6
    assert sample(samples, "appliance_false_wakes_total") == 2  # turn 2, and turn 5 after the barge-in
    assert sample(samples, "appliance_errors_total", kind="timeout") == 1
    assert sample(samples, "appliance_fallbacks_total", what="tts_fallback") == 1
    assert sample(samples, "appliance_first_audio_seconds_count") == 1
    assert sample(samples, "appliance_first_audio_seconds_bucket", le="0.75") == 0
    assert sample(samples, "appliance_first_audio_seconds_bucket", le="1") == 1
    assert sample(samples, "appliance_arbitration_total", result="lost") == 2
    assert sample(samples, "appliance_arbitration_total", result="won") == 1
    assert sample(samples, "appliance_arbitration_total", result="alone") == 1
    assert sample(samples, "appliance_arbitration_seconds_count") == 4
    assert sample(samples, "appliance_arbitration_seconds_bucket", le="0.1") == 2
    assert sample(samples, "appliance_arbitration_seconds_bucket", le="0.125") == 4


@pytest.fixture
def pins(mock_pins):
    yield


def test_a_scripted_turn_of_the_real_app_moves_the_counters(tmp_path, pins):
    """The app with its real listener, machine and WAV audio: an answered question, then a wake with no
    question after it. The file is written after each turn by the writer's own thread."""
    # real time, and 4 s between the question and the second wake word: the answer (0.2 s) is long over by then
    audio = np.concatenate([question(post=0.5), quiet(4.0), tone(3000.0, 0.3), quiet(3.0)])
    h = Harness(tmp_path, audio, sentences=["It is noon."], speech_seconds=0.2, pace=1.0)
    h.settings.endpoint.start_timeout = 1.0
    prom = tmp_path / "textfile" / "appliance.prom"
    prom.parent.mkdir()
    metrics, close = start_metrics(
        MetricsSettings(path=str(prom), interval=3600.0), h.bus, ApplianceMetrics(throttling=FakeThrottling(None))
    )
    try:
        h.start()
        assert h.finish(timeout=30) == 0
        turns = [e.outcome for e in h.events.of(Turn)]
        assert turns == ["answered", "no_speech"]
    finally:
        close()  # writes the file one last time
    samples = parsed(prom.read_text())
    assert sample(samples, "appliance_turns_total", outcome="answered") == 1
    assert sample(samples, "appliance_turns_total", outcome="no_speech") == 1
    assert sample(samples, "appliance_wakes_total", source="wake_word") == 2
    assert sample(samples, "appliance_false_wakes_total") == 1
    # the answered turn's end of speech -> first audio is in the histogram
    assert sample(samples, "appliance_first_audio_seconds_count") == 1
    first_audio = h.events.of(Turn)[0].timings["end_of_speech_to_first_audio_ms"] / 1000
    assert sample(samples, "appliance_first_audio_seconds_sum") == pytest.approx(first_audio)
    assert metrics.turns.get("answered") == 1


def test_the_textfile_is_replaced_atomically_and_readable_by_node_exporter(tmp_path):
    path = tmp_path / "appliance.prom"
    path.write_text("old\n")
    stop = threading.Event()
    seen: set[str] = set()

    def read() -> None:  # a reader that never sees a torn file
        while not stop.is_set():
            seen.add(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            write_atomically(path, f"# {i}\n" + "x" * 20_000 + "\n")
    finally:
        stop.set()
        reader.join()
    assert all(text == "old\n" or (text.startswith("# ") and text.endswith("x" * 20_000 + "\n")) for text in seen)
    assert path.read_text().startswith("# 299\n")
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appliance.prom"]  # no temporary file left

    # a failed write (text that is not valid Unicode) leaves the old file and no temporary file behind
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "half \ud800 written")
    assert path.read_text().startswith("# 299\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appliance.prom"]


def test_the_writer_writes_each_interval_and_after_each_turn_and_survives_a_missing_directory(tmp_path, caplog):
    counter = [0]

    def render() -> str:
        counter[0] += 1
        return f"appliance_renders_total {counter[0]}\n"

    caplog.set_level(logging.INFO, logger="appliance.metrics.textfile")
    missing = tmp_path / "not-yet" / "appliance.prom"
    writer = TextfileWriter(missing, render, interval=0.05)
    writer.start()
    try:
        assert not writer.written(1, timeout=0.3)
        assert caplog.text.count("does not exist") == 1  # said once, not at every interval
        missing.parent.mkdir()  # node_exporter installed later: the file appears by itself
        assert writer.written(1, timeout=10)
    finally:
        writer.close()
    turn = TextfileWriter(tmp_path / "turns.prom", render, interval=3600.0)
    turn.start()
    try:
        assert turn.written(1, timeout=10)
        turn(Turn(1, TurnOutcome.ANSWERED))  # a turn asks for a write at once, not after the hour
        assert turn.written(2, timeout=10)
        turn(Info("volume"))
    finally:
        turn.close()
    assert turn.writes == 3  # and one last write at close


def test_the_local_endpoint_serves_the_exposition():
    metrics = ApplianceMetrics(throttling=FakeThrottling(None))
    metrics(Turn(1, TurnOutcome.ANSWERED))
    server = MetricsServer("127.0.0.1", 0, metrics.exposition)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            samples = parsed(response.read().decode())
        assert sample(samples, "appliance_turns_total", outcome="answered") == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=10)
        assert missing.value.code == 404
    finally:
        server.close()


def test_settings(tmp_path):
    assert load(env={}).metrics.enabled is True
    settings = load(env={"APPLIANCE_METRICS__PATH": str(tmp_path / "a.prom"), "APPLIANCE_METRICS__INTERVAL": "30"})
    assert settings.metrics.path.endswith("a.prom") and settings.metrics.interval == 30
    with pytest.raises(SettingsError, match="must end in .prom"):
        load(env={"APPLIANCE_METRICS__PATH": "/tmp/appliance.txt"})
    with pytest.raises(SettingsError, match="metrics.interval"):
        load(env={"APPLIANCE_METRICS__INTERVAL": "0.1"})
    with pytest.raises(SettingsError, match="HOST:PORT"):
        load(env={"APPLIANCE_METRICS__LISTEN": "9105"})
    assert listen_address("[::1]:9105") == ("::1", 9105)
    assert listen_address("127.0.0.1:9105") == ("127.0.0.1", 9105)


def test_vcgencmd_output_is_read():
    assert system.parse_throttled("throttled=0x0\n") == 0
    assert system.parse_throttled("throttled=0x50005") == 0x50005
    with pytest.raises(ValueError):
        system.parse_throttled("error=1 error_msg=...")
    assert system.Throttling(None).read() is None


def test_the_fleet_table_reads_the_files_back(tmp_path):
    thermal, status = pi_like(tmp_path)
    metrics = ApplianceMetrics(version="0.3.0", thermal=thermal, proc_status=status, throttling=FakeThrottling(0x50000))
    for ms in (400, 600, 800, 900, 1200, 1400, 1800, 2600, 3100, 6000):
        metrics(Turn(1, TurnOutcome.ANSWERED, {"end_of_speech_to_first_audio_ms": ms}))
    metrics(Wake(WakeSource.WAKE_WORD))
    metrics(Turn(2, TurnOutcome.NO_SPEECH))
    metrics(Error(ErrorKind.TIMEOUT))
    metrics.arbitrated("won")
    text = metrics.exposition()
    reader = fleet.Metrics.of(text)
    # the reader agrees with prometheus_client on every sample
    assert {k: v for k, v in reader.samples.items()} == parsed(text)
    # the median is interpolated in its bucket as histogram_quantile does: 5 of 10 lie at or below 1.25 s
    assert reader.quantile(0.5, "appliance_first_audio_seconds") == pytest.approx(1.25)
    assert reader.quantile(0.95, "appliance_first_audio_seconds") == pytest.approx(5.0 + 2.5 * 0.5)
    row = fleet.row("kitchen", text, {"state": "idle", "ready": True})
    cells = dict(zip(fleet.COLUMNS, row, strict=True))
    assert cells["VERSION"] == "0.3.0" and cells["STATE"] == "idle"
    assert cells["TURNS"] == "11" and cells["ANSWERED"] == "91%" and cells["ERRORS"] == "1"
    assert cells["FIRST AUDIO p50/p95"] == "1.25 s / 6.25 s"
    assert cells["WAKES"] == "1" and cells["FALSE"] == "1" and cells["ARB W/L"] == "1/0"
    assert cells["TEMP"] == "52.6 °C" and cells["THROTTLED"] == "since boot" and cells["RSS"] == "150 MB"
    down = fleet.row("garage", None, None)
    assert down[:3] == ["garage", "?", "down"] and down[-1] == "no metrics"
    lines = fleet.table([row, down]).splitlines()
    assert lines[0].startswith("DEVICE") and lines[1].startswith("kitchen ") and lines[2].startswith("garage ")
    assert lines[2].endswith("no metrics")
    assert lines[1].index("0.3.0") == lines[0].index("VERSION") == lines[2].index("?")  # aligned columns
    assert math.isnan(fleet.Metrics.of("x NaN\n").get("x") or 0.0)


def test_the_grafana_dashboard_asks_only_for_what_the_appliance_exports(tmp_path):
    thermal, status = pi_like(tmp_path)
    metrics = ApplianceMetrics(thermal=thermal, proc_status=status, throttling=FakeThrottling(0))
    exported = {name for name, _labels in parsed(metrics.exposition())}
    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy/grafana/appliance-fleet.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bappliance_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 5 and asked
    assert asked <= exported, asked - exported
    assert {"appliance_first_audio_seconds_bucket", "appliance_false_wakes_total"} <= asked


@pytest.mark.slow
def test_the_real_appliance_writes_its_metrics_file_after_a_turn(tmp_path):
    """`appliance run` headless, as systemd runs it but with a WAV microphone: "Hey Jarvis" and a question with
    no API key (the turn ends with an auth error), then a wake word with nothing after it. The file the
    wiring's writer leaves behind counts both."""
    from standin.headless import appliance_env, run
    from standin.voice import concat, silence, synth, write_wav

    mic = tmp_path / "mic.wav"
    audio = concat(
        silence(1.0),
        synth("Hey Jarvis!"),
        silence(0.4),
        synth("What is the tallest mountain on Earth?"),
        silence(3.0),
        synth("Hey Jarvis!"),
        silence(8.0),
    )
    write_wav(mic, audio)
    prom = tmp_path / "textfile" / "appliance.prom"
    prom.parent.mkdir()
    env = appliance_env({"APPLIANCE_METRICS__PATH": str(prom), "APPLIANCE_ENDPOINT__START_TIMEOUT": "2"}, tmp_path)
    result = run(tmp_path, mic, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = [t["outcome"] for t in result.of("turn")]
    assert outcomes == ["error", "no_speech"], outcomes
    samples = parsed(prom.read_text())
    assert sample(samples, "appliance_turns_total", outcome="error") == 1
    assert sample(samples, "appliance_turns_total", outcome="no_speech") == 1
    assert sample(samples, "appliance_errors_total", kind="auth") == len(result.of("error"))
    assert sample(samples, "appliance_wakes_total", source="wake_word") == 2
    assert sample(samples, "appliance_false_wakes_total") == 1
    assert sample(samples, "appliance_memory_rss_bytes") > 50 * 2**20  # the real process's, with its models
    assert ("appliance_info", (("version", appliance.__version__),)) in samples
