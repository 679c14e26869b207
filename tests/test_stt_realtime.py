"""Streaming transcription: the session's own socket client (appliance.llm.openai_socket) against the fake
realtime WebSocket, each fault falling back to the batch upload (the real transcriber against the fake cloud)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, Settings, SttSettings
from appliance.deadline import Deadline
from appliance.errors import Cancelled, ErrorKind
from appliance.events import Event, EventBus, Info
from appliance.host import builders
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.stt.fallback import transcribe_with_fallback
from appliance.stt.openai import OpenAITranscriber
from appliance.stt.realtime import (
    API_RATE,
    Failure,
    RealtimeSession,
    RealtimeSttError,
    RealtimeSttOptions,
    preload,
)
from appliance.stt.streaming import StreamingTranscriber
from standin.realtime import FakeRealtime, Fault, Script
from standin.speech import transcript
from standin.voice import synth

preload()

KEY = "sk-test-realtime-0123456789"
FRAME = 1280  # 80 ms at 16 kHz


@pytest.fixture
def fake() -> Iterator[FakeRealtime]:
    with FakeRealtime(api_key=KEY) as server:
        yield server


def endpoint_for(fake: FakeRealtime, key: str = KEY) -> OpenAiEndpoint:
    return OpenAiEndpoint(api_key=key, base_url="http://127.0.0.1:9/v1", websocket_base_url=fake.ws_base_url)


def question() -> np.ndarray:
    return synth("What is the weather like in Paris today?")


def stream(session: RealtimeSession, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm), FRAME):
        session.feed(pcm[i : i + FRAME])


OPTIONS = RealtimeSttOptions(model="gpt-live-transcribe", language="en", connect_timeout=2.0, finish_timeout=2.0)


def test_streams_resampled_audio_and_returns_the_transcript_with_partials(fake):
    fake.default(Script(transcript="What is the weather like in Paris today?", deltas=3))
    partials: list[str] = []
    session = RealtimeSession(endpoint_for(fake), OPTIONS, on_partial=partials.append)
    pcm = question()
    session.start()
    stream(session, pcm)
    assert session.finish(Deadline(5.0)) == "What is the weather like in Paris today?"
    assert partials[-1].strip() == "What is the weather like in Paris today?" and len(partials) == 3

    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    assert rec.path == "/v1/realtime"
    assert rec.query["intent"] == ["transcription"]
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.config == {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-live-transcribe", "language": "en"},
                "turn_detection": None,
                "noise_reduction": None,
            }
        },
    }
    types = rec.types()
    assert types[0] == "session.update" and types[-1] == "input_audio_buffer.commit"
    assert set(types[1:-1]) == {"input_audio_buffer.append"}
    # every sample arrived, at 24 kHz, and sounds like what was fed (same level, same length)
    received = np.frombuffer(bytes(rec.audio), dtype="<i2")
    assert len(received) == pytest.approx(len(pcm) * API_RATE / 16000, abs=2)
    rms_in = np.sqrt(np.mean(pcm.astype(float) ** 2))
    assert np.sqrt(np.mean(received.astype(float) ** 2)) == pytest.approx(rms_in, rel=0.05)


def test_the_final_transcript_waits_only_for_the_cloud_after_the_end_of_turn(fake):
    """The audio is already there at the end of the turn: only the commit round trip and the cloud's own
    transcription time remain (0.3 s injected here; scripts/bench_endpoint.py measures the rest)."""
    fake.default(Script(latency=0.3))
    session = RealtimeSession(endpoint_for(fake), OPTIONS)
    pcm = question()
    session.start()
    stream(session, pcm)
    (rec,) = fake.wait_sessions(1)
    expected = len(pcm) * API_RATE // 16000 * 2 - 4000  # all but the resampler's tail, flushed at the commit
    deadline = time.monotonic() + 5
    while len(rec.audio) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    result = transcribe_with_fallback(session, pcm, lambda pcm: pytest.fail("no upload"), deadline=Deadline(5.0))
    assert result.streamed and result.error is None
    assert result.text == "What is the weather like in Paris today?"
    assert result.final_after_end_ms >= 300


@pytest.fixture
def batch(cloud):
    secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    cloud.default("transcriptions", transcript("What is the weather like in Paris today?"))
    transcriber = OpenAITranscriber(SttSettings(timeout=5.0, max_retries=0), secrets)
    return lambda pcm: transcriber.transcribe(pcm, CancelToken())


FAULTS = [
    (Script(fault=Fault.REFUSE, status=401), Failure.REFUSED),
    (Script(fault=Fault.REFUSE, status=403), Failure.REFUSED),
    (Script(fault=Fault.REFUSE, status=503), Failure.REFUSED),
    (Script(fault=Fault.CLOSE, close_after=3), Failure.CLOSED),
    (Script(fault=Fault.STALL), Failure.STALL),
    (Script(fault=Fault.ERROR), Failure.ERROR_EVENT),
    (Script(fault=Fault.WRONG_ORDER), Failure.PROTOCOL),
]


@pytest.mark.parametrize(("script", "failure"), FAULTS, ids=[f"{s.fault}-{s.status}" for s, _ in FAULTS])
def test_each_fault_fails_fast_and_the_recording_is_uploaded_instead(fake, cloud, batch, script, failure):
    fake.script(script)
    session = RealtimeSession(endpoint_for(fake), OPTIONS)
    pcm = question()
    session.start()
    stream(session, pcm)
    start = time.monotonic()
    result = transcribe_with_fallback(session, pcm, batch, deadline=Deadline(10.0))
    assert time.monotonic() - start < OPTIONS.finish_timeout + 1.0  # the stall waits finish_timeout, no more
    assert not result.streamed
    assert result.error is not None and result.error.failure is failure
    assert result.text == "What is the weather like in Paris today?"
    (upload,) = cloud.of("transcriptions")
    assert len(upload.body) > len(pcm) * 2  # the whole recording, as a WAV
    if script.fault is Fault.REFUSE:
        assert result.error.status == script.status
        assert result.error.kind is (ErrorKind.AUTH if script.status in (401, 403) else ErrorKind.STT)
        assert fake.refused == 1


def test_a_wrong_key_is_refused_at_the_upgrade(fake):
    session = RealtimeSession(endpoint_for(fake, key="sk-wrong"), OPTIONS)
    session.start()
    with pytest.raises(RealtimeSttError) as info:
        session.finish(Deadline(5.0))
    assert info.value.failure is Failure.REFUSED and info.value.status == 401


def test_no_server_is_a_connect_failure_without_waiting_for_the_deadline():
    with FakeRealtime(api_key=KEY) as gone:
        endpoint = endpoint_for(gone)
    session = RealtimeSession(endpoint, OPTIONS)
    session.start()
    start = time.monotonic()
    with pytest.raises(RealtimeSttError) as info:
        session.finish(Deadline(30.0))
    assert info.value.failure is Failure.CONNECT
    assert time.monotonic() - start < OPTIONS.finish_timeout + 0.5


def test_a_failure_mid_session_is_visible_before_the_end_of_turn(fake):
    fake.script(Script(fault=Fault.CLOSE, close_after=2))
    session = RealtimeSession(endpoint_for(fake), OPTIONS)
    session.start()
    stream(session, question()[: FRAME * 4])
    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    deadline = time.monotonic() + 2
    while session.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session.failed is not None and session.failed.failure is Failure.CLOSED
    stream(session, question())  # feeding a failed session is a no-op, never an exception


def test_the_turn_deadline_caps_the_wait(fake):
    fake.script(Script(fault=Fault.STALL))
    session = RealtimeSession(endpoint_for(fake), RealtimeSttOptions(finish_timeout=5.0))
    session.start()
    stream(session, question())
    start = time.monotonic()
    with pytest.raises(RealtimeSttError) as info:
        session.finish(Deadline(0.3))
    assert info.value.failure is Failure.STALL
    assert time.monotonic() - start < 0.6


def test_cancel_closes_the_socket_within_200_ms(fake):
    fake.script(Script(fault=Fault.STALL))
    token = CancelToken()
    session = RealtimeSession(endpoint_for(fake), OPTIONS, cancel=token)
    session.start()
    stream(session, question())
    (rec,) = fake.wait_sessions(1)
    waiter_error: list[BaseException] = []

    def wait_for_it() -> None:
        try:
            session.finish(Deadline(10.0))
        except BaseException as e:
            waiter_error.append(e)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    deadline = time.monotonic() + 2
    while "input_audio_buffer.commit" not in rec.types() and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    token.cancel("button")
    assert rec.closed.wait(0.2), "the server still has the socket open"
    waiter.join(0.2)
    assert time.monotonic() - start < 0.4
    assert not waiter.is_alive() and isinstance(waiter_error[0], Cancelled)


def test_feed_never_blocks_and_an_overflow_fails_the_session(fake):
    session = RealtimeSession(endpoint_for(fake), RealtimeSttOptions(queue_frames=3))
    frame = np.zeros(FRAME, dtype=np.int16)
    start = time.monotonic()
    for _ in range(10):
        session.feed(frame)  # not started: nothing drains the queue
    assert time.monotonic() - start < 0.05
    assert session.failed is not None and session.failed.failure is Failure.OVERFLOW


def test_the_session_is_used_in_order():
    session = RealtimeSession(OpenAiEndpoint(api_key=KEY), OPTIONS)
    with pytest.raises(RealtimeSttError) as info:
        session.finish()
    assert info.value.failure is Failure.STATE


def test_closing_while_the_transcript_streams_logs_no_traceback(fake, caplog):
    """websockets' closing race: a close while the library's reader has just taken bytes off the socket made
    it log "unexpected internal error" with an EOFError traceback (client and server), though nothing was
    lost. Closes, polite and abrupt, while the stand-in streams a long transcript: no error, no traceback."""
    fake.default(Script(transcript=" ".join(f"word{i}" for i in range(200)), deltas=200))
    endpoint = endpoint_for(fake)
    speech = question()[: FRAME * 4]  # 0.32 s: each commit is transcribed in 200 deltas
    caplog.set_level(logging.INFO)  # the appliance's level (at DEBUG websockets logs every frame)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, so the race shows within a few dozen closes
    try:
        for n in range(40):
            streaming = threading.Event()
            session = RealtimeSession(endpoint, OPTIONS, on_partial=lambda _text, flag=streaming: flag.set())
            session.start()
            for _ in range(3):
                stream(session, speech)
                session.commit()
            assert streaming.wait(5)
            session.abort() if n % 2 else session.close()
        fake.wait_sessions(40)
        assert all(s.closed.wait(2) for s in fake.sessions)
    finally:
        sys.setswitchinterval(interval)
    loud = [(r.name, r.getMessage()) for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert loud == []


def test_the_quiet_logger_demotes_only_the_closing_race(caplog):
    from appliance.websocket_log import QUIET_CLOSE_LOGGER

    caplog.set_level(logging.DEBUG, logger="websockets.client")
    for exc in (EOFError("stream ended"), ValueError("a real bug")):
        try:
            raise exc
        except Exception:
            QUIET_CLOSE_LOGGER.error("unexpected internal error", exc_info=True)
    race, bug = [r for r in caplog.records if r.name == "websockets.client"]
    assert race.levelno == logging.DEBUG and race.exc_info is None and "EOFError" in race.getMessage()
    assert bug.levelno == logging.ERROR and bug.exc_info is not None and bug.exc_info[0] is ValueError


def test_a_stalled_handshake_is_awaited_once_then_the_recording_is_uploaded(fake, cloud):
    """The socket opened as the turn opens stalls in its handshake: the end of the turn waits for it once
    (finish_timeout at most, never connect_timeout and then that), opens no second one, and uploads."""
    fake.script(Script(fault=Fault.SLOW_HANDSHAKE))
    cloud.default("transcriptions", transcript("What is the weather like in Paris today?"))
    secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    batch = OpenAITranscriber(SttSettings(timeout=5.0, max_retries=0), secrets)
    options = RealtimeSttOptions(model="gpt-live-transcribe", connect_timeout=1.5, finish_timeout=1.0)
    events: list[Event] = []
    transcriber = StreamingTranscriber(endpoint_for(fake), batch, options, events.append)
    pcm = question()
    transcriber.begin()  # the wake word
    for i in range(0, len(pcm), FRAME):
        transcriber.feed(pcm[i : i + FRAME])
    started = time.monotonic()
    text = transcriber.transcribe(pcm, CancelToken(), deadline=Deadline(10.0))
    took = time.monotonic() - started
    assert text == "What is the weather like in Paris today?"  # once, from the upload
    assert fake.handshakes == 1 and fake.sessions == [] and len(cloud.of("transcriptions")) == 1
    assert [e.what for e in events if isinstance(e, Info)] == ["stt_fallback"]
    assert took < options.connect_timeout + options.finish_timeout  # one wait (~1 s), generous bound


def test_the_upgrade_carries_the_key_the_intent_and_the_organization(fake):
    endpoint = OpenAiEndpoint(
        api_key=KEY, websocket_base_url=fake.ws_base_url, organization="org-test", project="proj-test"
    )
    session = RealtimeSession(endpoint, OPTIONS)
    session.start()
    stream(session, question())
    assert session.finish(Deadline(5.0)) == "What is the weather like in Paris today?"
    (rec,) = fake.wait_sessions(1)
    assert rec.path == "/v1/realtime" and rec.query == {"intent": ["transcription"]}
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.headers["openai-organization"] == "org-test" and rec.headers["openai-project"] == "proj-test"


# --- malformed messages -------------------------------------------------------------------------------------


class Malformed(FakeRealtime):
    """Acknowledges each commit, then sends ``bad`` (``{item}`` replaced by the item's id) in place of its
    transcript."""

    def __init__(self, bad: str) -> None:
        super().__init__(api_key=KEY)
        self.bad = bad

    def _answer(self, out: Any, script: Script, session: Any, commit: int, previous: str | None, seconds: float) -> str:
        item = f"item_{commit}"
        out.send(self._event("input_audio_buffer.committed", item_id=item, previous_item_id=previous))
        try:
            json.loads(self.bad)
        except ValueError:  # the outbox records what it sends as JSON: this goes out on its own
            out._ws.send(self.bad)
        else:
            out.send(self.bad.replace("{item}", item))
        return item


def message(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"
MALFORMED = {
    "transcript-a-number": (message(COMPLETED, item_id="{item}", transcript=42), Failure.PROTOCOL),
    "transcript-an-object": (message(COMPLETED, item_id="{item}", transcript={"text": "hi"}), Failure.PROTOCOL),
    "transcript-missing": (message(COMPLETED, item_id="{item}"), Failure.PROTOCOL),
    "delta-a-list": (message(DELTA, item_id="{item}", delta=["What"]), Failure.PROTOCOL),
    "item-id-a-number": (message(COMPLETED, item_id=7, transcript="What"), Failure.PROTOCOL),
    "no-type": (json.dumps({"item_id": "{item}", "transcript": "What"}), Failure.PROTOCOL),
    "not-json": ("What is the weather<", Failure.PROTOCOL),
    "a-json-array": ('["What"]', Failure.PROTOCOL),
    "error-a-string": (message("error", error="boom"), Failure.ERROR_EVENT),
}


@pytest.mark.parametrize(("bad", "failure"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_message_fails_the_session_and_the_recording_is_uploaded(cloud, batch, caplog, bad, failure):
    """Never an exception escaping the reader, never a wait for the stall: the session fails on the message."""
    caplog.set_level(logging.INFO)
    failures: list[RealtimeSttError] = []
    with Malformed(bad) as fake:
        session = RealtimeSession(endpoint_for(fake), OPTIONS, on_failure=failures.append)
        pcm = question()
        session.start()
        stream(session, pcm)
        start = time.monotonic()
        result = transcribe_with_fallback(session, pcm, batch, deadline=Deadline(10.0))
        took = time.monotonic() - start
    assert not result.streamed and result.error is not None and result.error.failure is failure
    assert [f.failure for f in failures] == [failure]
    assert took < OPTIONS.finish_timeout  # failed on the message, not after waiting for a transcript
    assert result.text == "What is the weather like in Paris today?"
    assert len(cloud.of("transcriptions")) == 1
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_on_failure_reports_the_sessions_own_failure_once_and_never_a_close(fake):
    fake.script(Script(fault=Fault.REFUSE, status=503))
    failures: list[RealtimeSttError] = []
    session = RealtimeSession(endpoint_for(fake), OPTIONS, on_failure=failures.append)
    session.start()
    with pytest.raises(RealtimeSttError):
        session.finish(Deadline(5.0))
    assert [f.failure for f in failures] == [Failure.REFUSED]

    closed: list[RealtimeSttError] = []
    for n in range(2):
        session = RealtimeSession(endpoint_for(fake), OPTIONS, on_failure=closed.append)
        session.start()
        stream(session, question()[: FRAME * 4])
        fake.wait_sessions(n + 1)  # the refused one is no session
        session.abort() if n else session.close()
    assert all(s.closed.wait(2) for s in fake.sessions)
    assert closed == []


# --- the builder: the upload is only the fallback -----------------------------------------------------------


class Uploads:
    """The batch transcriber the builder makes (the upload), counting its builds."""

    def __init__(self) -> None:
        self.builds = 0
        self.built = threading.Event()

    def make(self, settings: Settings) -> Uploads:
        self.builds += 1
        self.built.set()
        return self

    def transcribe(self, pcm: np.ndarray, cancel: CancelToken, **_: Any) -> str:
        return "uploaded"


def join_warm_ups() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("warm-up"):
            thread.join(10)


def test_a_stream_failure_starts_building_the_upload_while_the_user_speaks(fake):
    fake.script(Script(fault=Fault.REFUSE, status=503), Script(fault=Fault.REFUSE, status=503))
    secrets = Secrets({"openai": {"api_key": KEY, "websocket_base_url": fake.ws_base_url}})
    settings = Settings(stt=SttSettings(realtime_connect_timeout=2.0, realtime_finish_timeout=2.0), secrets=secrets)
    uploads = Uploads()
    bus, events = EventBus(), list[Event]()
    bus.subscribe(events.append)
    transcriber = builders.transcriber(settings, uploads.make, bus)
    assert isinstance(transcriber, StreamingTranscriber)
    join_warm_ups()
    assert uploads.builds == 0  # streaming: not built at start
    pcm = question()
    for _turn in range(2):
        transcriber.begin()  # the wake word; the upgrade is refused
        assert uploads.built.wait(5)  # built before the end of the turn, while the user still speaks
        for i in range(0, len(pcm), FRAME):
            transcriber.feed(pcm[i : i + FRAME])
        assert transcriber.transcribe(pcm, CancelToken(), deadline=Deadline(5.0)) == "uploaded"
    join_warm_ups()
    assert uploads.builds == 1 and fake.refused == 2
    assert [e.what for e in events if isinstance(e, Info)] == ["stt_fallback", "stt_fallback"]


def test_a_streamed_turn_never_builds_the_upload(fake):
    secrets = Secrets({"openai": {"api_key": KEY, "websocket_base_url": fake.ws_base_url}})
    settings = Settings(stt=SttSettings(realtime_connect_timeout=2.0, realtime_finish_timeout=2.0), secrets=secrets)
    uploads = Uploads()
    transcriber = builders.transcriber(settings, uploads.make, EventBus())
    assert isinstance(transcriber, StreamingTranscriber)
    pcm = question()
    transcriber.begin()
    for i in range(0, len(pcm), FRAME):
        transcriber.feed(pcm[i : i + FRAME])
    assert transcriber.transcribe(pcm, CancelToken(), deadline=Deadline(5.0)) == (
        "What is the weather like in Paris today?"
    )
    join_warm_ups()
    assert uploads.builds == 0


def test_in_batch_mode_the_upload_is_built_at_start():
    settings = Settings(stt=SttSettings(mode="batch"), secrets=Secrets(openai_api_key=KEY))
    uploads = Uploads()
    transcriber = builders.transcriber(settings, uploads.make, EventBus())
    assert not isinstance(transcriber, StreamingTranscriber)
    assert uploads.built.wait(5)


def test_building_the_streaming_transcriber_does_not_import_the_openai_sdk():
    """The SDK holds ~30 MB on the Pi: in streaming mode it loads only if a turn needs the upload."""
    script = """if True:
        import sys, threading
        from appliance.config.secrets import Secrets
        from appliance.config.settings import Settings
        from appliance.events import EventBus
        from appliance.host import builders
        from appliance.stt import TRANSCRIBERS

        settings = Settings(secrets=Secrets(openai_api_key="sk-test-realtime-0123456789"))
        made = builders.transcriber(settings, TRANSCRIBERS.get(settings.stt.provider), EventBus())
        warm_ups = [t for t in threading.enumerate() if t.name.startswith("warm-up")]
        for thread in warm_ups:
            thread.join(30)
        print(type(made).__name__, [t.name for t in warm_ups], "websockets.sync.client" in sys.modules)
        print("openai" in sys.modules)
    """
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["StreamingTranscriber ['warm-up-realtime'] True", "False"]
