"""A commit at every pause: several items per turn, joined in commit order, each failure still falling back to the
upload of the whole recording. The session's own socket client against the fake realtime WebSocket."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from test_stt_realtime import FRAME, KEY, OPTIONS, endpoint_for, stream

from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, SttSettings
from appliance.deadline import Deadline
from appliance.events import Event, Info, PartialTranscript
from appliance.llm.openai_socket import connect
from appliance.stt.fallback import transcribe_with_fallback
from appliance.stt.openai import OpenAITranscriber
from appliance.stt.realtime import Failure, RealtimeSession, RealtimeSttOptions
from appliance.stt.segments import OutOfOrder, SegmentLedger
from appliance.stt.streaming import StreamingTranscriber
from appliance.timings import TurnTimings
from standin.realtime import FakeRealtime, Fault, Script
from standin.speech import transcript
from standin.voice import synth

PARTS = ("What is the weather", "like in", "Paris today?")
PAUSE = np.zeros(FRAME * 3, dtype=np.int16)  # 240 ms of silence, where the listener would commit


@pytest.fixture
def fake() -> Iterator[FakeRealtime]:
    with FakeRealtime(api_key=KEY) as server:
        yield server


@pytest.fixture
def uploads(cloud):
    secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    cloud.default("transcriptions", transcript("What is the weather like in Paris today?"))
    return OpenAITranscriber(SttSettings(timeout=5.0, max_retries=0), secrets)


@pytest.fixture
def batch(uploads) -> Callable[[np.ndarray], str]:
    return lambda pcm: uploads.transcribe(pcm, CancelToken())


def speech(text: str) -> np.ndarray:
    return synth(text)


def committed(rec: Any) -> list[dict[str, Any]]:
    return [m for m in rec.sent if m["type"] == "input_audio_buffer.committed"]


def completions(rec: Any) -> list[str]:
    return [m["item_id"] for m in rec.sent if m["type"].endswith("input_audio_transcription.completed")]


@pytest.mark.parametrize("count", [2, 3])
def test_segments_committed_at_pauses_join_in_order(fake, count):
    parts = PARTS[:count] if count == 3 else ("What is the weather like", "in Paris today?")
    fake.default(Script(transcripts=parts, deltas=2))
    arrived: list[tuple[int, str]] = []
    partials: list[str] = []
    session = RealtimeSession(
        endpoint_for(fake), OPTIONS, on_partial=partials.append, on_segment=lambda i, t: arrived.append((i, t))
    )
    session.start()
    for i, part in enumerate(parts[:-1]):
        stream(session, speech(part))
        stream(session, PAUSE)
        assert session.commit() == i
    stream(session, speech(parts[-1]))
    assert session.finish(Deadline(5.0)) == " ".join(parts)
    assert sorted(arrived) == list(enumerate(parts))
    assert partials[-1] == " ".join(parts)

    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    assert rec.types().count("input_audio_buffer.commit") == count and len(rec.commits) == count
    acks = committed(rec)
    assert [a["previous_item_id"] for a in acks] == [None] + [a["item_id"] for a in acks[:-1]]
    assert "error" not in rec.sent_types()
    # the buffer is emptied at each commit: the items hold the whole recording between them, resampled
    assert sum(rec.commits) == pytest.approx(rec.audio_seconds, abs=1e-6)


def test_an_item_answered_late_still_joins_in_commit_order(fake):
    fake.default(Script(transcripts=("What is the weather", "like in Paris today?"), latencies=(0.8, 0.0)))
    arrived: list[int] = []
    session = RealtimeSession(endpoint_for(fake), OPTIONS, on_segment=lambda i, t: arrived.append(i))
    session.start()
    stream(session, speech("What is the weather"))
    assert session.commit() == 0
    stream(session, speech("like in Paris today?"))
    assert session.finish(Deadline(5.0)) == "What is the weather like in Paris today?"
    assert arrived == [1, 0]
    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    first, second = (a["item_id"] for a in committed(rec))
    assert completions(rec) == [second, first]


def test_commit_tail_false_leaves_the_trailing_silence_uncommitted(fake):
    fake.default(Script(transcripts=("What is the weather like in Paris today?", "[silence]")))
    session = RealtimeSession(endpoint_for(fake), OPTIONS)
    session.start()
    stream(session, speech("What is the weather like in Paris today?"))
    assert session.commit() == 0
    stream(session, np.zeros(FRAME * 10, dtype=np.int16))  # the 0.8 s the endpoint waited out
    assert session.finish(Deadline(5.0), commit_tail=False) == "What is the weather like in Paris today?"
    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    assert rec.types().count("input_audio_buffer.commit") == 1 and len(rec.commits) == 1
    assert rec.audio_seconds > rec.commits[0] + 0.7  # the silence was streamed, never committed


def test_less_than_a_tenth_of_a_second_is_never_committed(fake):
    fake.default(Script(transcripts=("What is the weather like in Paris today?", "unexpected")))
    session = RealtimeSession(endpoint_for(fake), OPTIONS)
    session.start()
    assert session.commit() is None  # nothing fed yet
    stream(session, speech("What is the weather like in Paris today?"))
    assert session.commit() == 0
    assert session.commit() is None  # nothing since
    session.feed(np.zeros(1599, dtype=np.int16))  # one sample short of 0.1 s at 16 kHz
    assert session.commit() is None
    assert session.finish(Deadline(5.0)) == "What is the weather like in Paris today?"  # the tail is left too
    (rec,) = fake.wait_sessions(1)
    assert rec.closed.wait(2)
    assert rec.types().count("input_audio_buffer.commit") == 1
    assert "error" not in rec.sent_types()


def test_the_fake_refuses_a_commit_under_a_tenth_of_a_second_as_the_api_does(fake):
    conn = connect(endpoint_for(fake), "realtime", query={"intent": "transcription"}, open_timeout=2.0)
    try:
        assert conn.recv().type == "session.created"
        conn.send({"type": "input_audio_buffer.append", "audio": "AAAA"})  # two samples
        conn.send({"type": "input_audio_buffer.commit"})
        event = conn.recv()
    finally:
        conn.close()
    assert event.type == "error" and event.error.code == "input_audio_buffer_commit_empty"


SECOND_COMMIT_FAULTS = [
    (Script(fault=Fault.STALL, fault_after=1), Failure.STALL),
    (Script(fault=Fault.ERROR, fault_after=1), Failure.ERROR_EVENT),
    (Script(fault=Fault.WRONG_ORDER, fault_after=1), Failure.PROTOCOL),
    (Script(fault=Fault.CLOSE, fault_after=1, close_after=2), Failure.CLOSED),  # closed after the 1st segment
]


@pytest.mark.parametrize(
    ("script", "failure"), SECOND_COMMIT_FAULTS, ids=[str(s.fault) for s, _ in SECOND_COMMIT_FAULTS]
)
def test_a_fault_on_the_second_commit_uploads_the_whole_recording(fake, cloud, batch, script, failure):
    fake.script(script)
    first = threading.Event()
    session = RealtimeSession(endpoint_for(fake), OPTIONS, on_segment=lambda i, t: first.set())
    pcm = np.concatenate([speech("What is the weather"), PAUSE, speech("like in Paris today?")])
    session.start()
    stream(session, pcm[: len(pcm) // 2])
    assert session.commit() == 0
    assert first.wait(2)  # the first item was transcribed; the second one fails
    stream(session, pcm[len(pcm) // 2 :])
    result = transcribe_with_fallback(session, pcm, batch, deadline=Deadline(10.0))
    assert not result.streamed and result.error is not None and result.error.failure is failure
    assert result.text == "What is the weather like in Paris today?"
    (upload,) = cloud.of("transcriptions")
    assert len(upload.body) > len(pcm) * 2  # the whole recording, both segments, as a WAV


def test_an_item_overdue_at_the_next_pause_fails_the_session_before_the_end_of_turn(fake):
    fake.script(Script(fault=Fault.STALL))
    options = RealtimeSttOptions(finish_timeout=0.2)
    session = RealtimeSession(endpoint_for(fake), options)
    session.start()
    stream(session, speech("What is the weather"))
    assert session.commit() == 0
    threading.Event().wait(options.finish_timeout + 0.1)  # the user speaks on for longer than an item may take
    stream(session, speech("like in Paris today?"))
    assert session.commit() is None
    assert session.failed is not None and session.failed.failure is Failure.STALL
    session.close()


# --- the transcriber the listener uses ------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)


def test_commit_segment_hands_the_text_so_far_to_each_pause(fake, uploads, monkeypatch):
    fake.default(Script(transcripts=PARTS, latencies=(0.6, 0.0, 0.0)))  # the first pause's text comes last
    gate = threading.Event()

    class Gated(RealtimeSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            gate.wait(5)  # the session is made only once released: the first frames and commit wait in ``early``
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("appliance.stt.streaming.RealtimeSession", Gated)
    emit = Recorder()
    transcriber = StreamingTranscriber(endpoint_for(fake), uploads, OPTIONS, emit)
    texts: queue.Queue[tuple[str, str]] = queue.Queue()
    assert not transcriber.commit_segment(lambda t: texts.put(("none", t)))  # no turn open
    transcriber.begin()
    assert not transcriber.commit_segment(lambda t: texts.put(("empty", t)))  # nothing fed
    pieces = [speech(p) for p in PARTS]
    for i in range(0, len(pieces[0]), FRAME):
        transcriber.feed(pieces[0][i : i + FRAME])
    assert transcriber.commit_segment(lambda t: texts.put(("first", t)))  # early frames count
    assert not transcriber.commit_segment(lambda t: texts.put(("again", t)))
    gate.set()
    for i in range(0, len(pieces[1]), FRAME):
        transcriber.feed(pieces[1][i : i + FRAME])
    deadline = Deadline(5.0)
    while not transcriber.commit_segment(lambda t: texts.put(("second", t))):
        assert not deadline.expired(), "the session never came up"  # commit needs the session made first
        threading.Event().wait(0.01)
    for i in range(0, len(pieces[2]), FRAME):
        transcriber.feed(pieces[2][i : i + FRAME])
    timings = TurnTimings()
    pcm = np.concatenate(pieces)
    assert transcriber.transcribe(pcm, CancelToken(), deadline=Deadline(5.0), timings=timings) == " ".join(PARTS)
    got = [texts.get(timeout=1), texts.get(timeout=1)]
    assert got == [("first", "What is the weather"), ("second", "What is the weather like in")]
    assert texts.empty()
    spans = timings.spans_ms()
    assert spans["transcript_streamed"] == 1.0 and spans["transcript_segments"] == 3.0
    partials = [e.text for e in emit.events if isinstance(e, PartialTranscript)]
    assert partials and partials[-1] == " ".join(PARTS)
    assert not [e for e in emit.events if isinstance(e, Info)]  # no fallback


def test_transcribe_passes_commit_tail_on(fake, uploads):
    fake.default(Script(transcripts=("What is the weather like in Paris today?", "[noise]")))
    transcriber = StreamingTranscriber(endpoint_for(fake), uploads, OPTIONS, Recorder())
    transcriber.begin()
    pcm = np.concatenate([speech("What is the weather like in Paris today?"), np.zeros(FRAME * 8, dtype=np.int16)])
    arrived = threading.Event()
    deadline = Deadline(5.0)
    for i in range(0, len(pcm) - FRAME * 8, FRAME):
        transcriber.feed(pcm[i : i + FRAME])
    while not transcriber.commit_segment(lambda t: arrived.set()):
        assert not deadline.expired()
        threading.Event().wait(0.01)
    for i in range(len(pcm) - FRAME * 8, len(pcm), FRAME):
        transcriber.feed(pcm[i : i + FRAME])
    text = transcriber.transcribe(pcm, CancelToken(), deadline=Deadline(5.0), commit_tail=False)
    assert text == "What is the weather like in Paris today?" and arrived.wait(1)
    (rec,) = fake.wait_sessions(1)
    assert len(rec.commits) == 1


# --- the ledger on its own --------------------------------------------------------------------------------------


def test_the_ledger_orders_by_commit_and_refuses_what_the_commits_cannot_explain():
    ledger = SegmentLedger()
    assert ledger.done() and ledger.text() == ""
    assert (ledger.add(), ledger.add(), ledger.add()) == (0, 1, 2)
    with pytest.raises(OutOfOrder):
        ledger.delta("item_a", "x")  # before its commit was acknowledged
    assert ledger.acknowledge("item_a", None) == 0
    assert ledger.acknowledge("item_b", "item_a") == 1
    with pytest.raises(OutOfOrder):
        ledger.acknowledge("item_c", "item_a")  # claims to follow a but b came after a
    assert ledger.acknowledge("item_c", "item_elsewhere") == 2  # an id we never saw says nothing
    ledger.delta("item_b", "like ")
    assert ledger.partial() == "like"
    ledger.complete("item_c", "")  # a pause of breath: no words, no gap
    ledger.complete("item_b", "like in")
    assert ledger.pending() == [0] and not ledger.done()
    ledger.complete("item_a", " What is the weather ")
    assert ledger.text() == "What is the weather like in" and ledger.done()
    with pytest.raises(OutOfOrder):
        ledger.complete("item_a", "again")
    with pytest.raises(OutOfOrder):
        ledger.acknowledge("item_d", "item_c")  # more acknowledgements than commits


def test_fake_server_scripts_repeat_their_last_entry():
    script = Script(transcripts=("a", "b"), latencies=(0.5,))
    assert [script.transcript_for(i) for i in range(3)] == ["a", "b", "b"]
    assert script.latency_for(2) == 0.5 and Script(latency=0.1).latency_for(4) == 0.1
