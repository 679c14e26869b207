"""Transcription with the real openai SDK against the fake cloud's multipart endpoint."""

from __future__ import annotations

import io
import threading
import time
import wave

import numpy as np
import pytest

from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, SttSettings
from appliance.errors import ApplianceError, Cancelled
from appliance.stt.openai import OpenAITranscriber, is_empty
from standin.cloud import Stall, Status
from standin.speech import transcript


def make(cloud, **kw):
    secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    settings = SttSettings(**{"timeout": 2.0, "max_retries": 2, **kw})
    return OpenAITranscriber(settings, secrets)


AUDIO = (np.sin(np.arange(16000) * 0.05) * 8000).astype(np.int16)


def test_uploads_a_16k_mono_wav_and_returns_the_text(cloud):
    cloud.script("transcriptions", transcript("What is the tallest mountain?"))
    text = make(cloud, language="en").transcribe(AUDIO, CancelToken())
    assert text == "What is the tallest mountain?"
    request = cloud.of("transcriptions")[0]
    fields = request.multipart()
    assert fields["model"] == "gpt-transcribe" and fields["language"] == "en"
    filename, data = fields["file"]
    assert filename.endswith(".wav")
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (16000, 1, 2, 16000)
    assert request.headers["authorization"] == "Bearer sk-test-stt-0123456789"


@pytest.mark.parametrize("text", ["", "  ", "...", "[inaudible]", "Thank you.", "Um."])
def test_empty_or_noise_transcripts_are_empty(cloud, text):
    cloud.script("transcriptions", transcript(text))
    assert make(cloud).transcribe(AUDIO, CancelToken()) == ""
    assert is_empty(text)


def test_429_with_retry_after_then_success(cloud):
    cloud.script("transcriptions", Status(429, "slow down", retry_after=0.3), transcript("hello"))
    start = time.monotonic()
    assert make(cloud).transcribe(AUDIO, CancelToken()) == "hello"
    assert time.monotonic() - start >= 0.3
    assert len(cloud.of("transcriptions")) == 2


def test_server_errors_are_retried_a_bounded_number_of_times(cloud):
    cloud.default("transcriptions", Status(503, "down"))
    with pytest.raises(ApplianceError) as info:
        make(cloud, max_retries=2).transcribe(AUDIO, CancelToken())
    assert info.value.kind.value == "server"
    assert len(cloud.of("transcriptions")) == 3


def test_a_stalled_server_times_out(cloud):
    cloud.script("transcriptions", Stall(10), Stall(10))
    with pytest.raises(ApplianceError) as info:
        make(cloud, timeout=0.5, max_retries=1).transcribe(AUDIO, CancelToken())
    assert info.value.kind.value == "timeout"


def test_bad_key_is_not_retried(cloud):
    cloud.script("transcriptions", Status(401, "bad key", error_type="invalid_request_error"))
    with pytest.raises(ApplianceError) as info:
        make(cloud).transcribe(AUDIO, CancelToken())
    assert info.value.kind.value == "auth" and len(cloud.of("transcriptions")) == 1


def test_cancel_during_the_retry_wait(cloud):
    cloud.script("transcriptions", Status(429, "slow down", retry_after=5))
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        make(cloud, timeout=10).transcribe(AUDIO, cancel)
    assert time.monotonic() - start < 1.0


def test_a_stalled_transcription_ends_within_the_turns_deadline(cloud):
    """Issue 13 item 1: 3 x 15 s before; now the deadline caps the timeout and the retries."""
    from appliance.deadline import Deadline

    cloud.default("transcriptions", Stall(60))
    transcriber = make(cloud, timeout=15.0, max_retries=2)
    transcriber.warm()  # as the appliance does at start: the import (seconds on emulated arm64) is not the turn's
    deadline = Deadline(1.5)
    start = time.monotonic()
    with pytest.raises(ApplianceError) as info:
        transcriber.transcribe(AUDIO, CancelToken(), deadline=deadline)
    took = time.monotonic() - start
    assert info.value.kind.value == "timeout" and info.value.stage == "stt"
    assert took < 1.5 + 0.5, took
    assert len(cloud.of("transcriptions")) == 1  # no retry could have finished in what was left


def test_a_trickling_server_is_cut_off_at_the_deadline(cloud):
    """Bytes keep coming, each well within the read timeout: only the deadline ends the wait."""
    from appliance.deadline import Deadline
    from standin.cloud import Stream

    cloud.default(
        "transcriptions",
        Stream([b'{"text": "' + b"a" * 10 + b'"}'] * 1 + [b" "] * 100, content_type="application/json", delay=0.2),
    )
    transcriber = make(cloud, timeout=5.0, max_retries=2)
    start = time.monotonic()
    with pytest.raises(ApplianceError) as info:
        transcriber.transcribe(AUDIO, CancelToken(), deadline=Deadline(1.0))
    assert info.value.kind.value == "timeout"
    assert time.monotonic() - start < 1.0 + 0.5


def test_the_deadline_leaves_room_for_a_quick_retry(cloud):
    from appliance.deadline import Deadline

    cloud.script("transcriptions", Status(503, "down"), transcript("hello"))
    assert make(cloud, timeout=5.0).transcribe(AUDIO, CancelToken(), deadline=Deadline(5.0)) == "hello"
    assert len(cloud.of("transcriptions")) == 2


def test_cancel_during_a_stalled_request_returns_at_once(cloud):
    cloud.script("transcriptions", Stall(30))
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    start = time.monotonic()
    transcriber = make(cloud, timeout=20)
    with pytest.raises(Cancelled):
        transcriber.transcribe(AUDIO, cancel)
    assert time.monotonic() - start < 0.3 + 0.3
    cloud.script("transcriptions", transcript("next turn"))
    assert transcriber.transcribe(AUDIO, CancelToken()) == "next turn"  # a new connection is made


# --- the debugging folder (debug.keep_audio; issue #31) ---------------------------------------------------


def debugging(cloud, folder, **debug):
    """The transcriber the settings make, with debug.keep_audio on and the folder at ``folder``."""
    from appliance.config.settings import Settings
    from appliance.stt import TRANSCRIBERS

    settings = Settings()
    settings.secrets = Secrets(openai_api_key="sk-test-stt-0123456789", openai_base_url=cloud.openai_base_url)
    settings.stt.timeout = 2.0
    settings.debug.keep_audio = True
    settings.debug.dir = str(folder)
    for key, value in debug.items():
        setattr(settings.debug, key, value)
    return TRANSCRIBERS.get("openai")(settings)


def test_a_debug_folder_that_cannot_be_written_costs_no_answer(cloud, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # root writes anywhere chmod forbids; not under a regular file
    cloud.default("transcriptions", transcript("What is the tallest mountain?"))
    transcriber = debugging(cloud, blocker / "debug")
    with caplog.at_level("WARNING"):
        assert transcriber.transcribe(AUDIO, CancelToken()) == "What is the tallest mountain?"
        assert transcriber.transcribe(AUDIO, CancelToken()) == "What is the tallest mountain?"
    lines = [r for r in caplog.records if "debug" in r.getMessage()]
    assert len(lines) == 2, [r.getMessage() for r in caplog.records]  # one line per question, no traceback
    assert all(r.exc_info is None and "cannot keep question-" in r.getMessage() for r in lines)
    assert "Not a directory" in lines[0].getMessage()


def test_the_debug_folder_keeps_the_newest_files_within_its_bounds(cloud, tmp_path):
    folder = tmp_path / "debug"
    folder.mkdir()
    (folder / "notes.txt").write_text("a person's file: never deleted")
    cloud.default("transcriptions", transcript("hello"))
    transcriber = debugging(cloud, folder, keep_files=5)
    wav_bytes = 44 + 2 * len(AUDIO)
    for turn in range(12):
        audio = AUDIO.copy()
        audio[0] = turn  # each question tells which turn it was
        assert transcriber.transcribe(audio, CancelToken()) == "hello"
        kept = sorted(folder.glob("question-*.wav"))
        assert len(kept) == min(turn + 1, 5)
    kept_turns = sorted(int.from_bytes(p.read_bytes()[44:46], "little", signed=True) for p in kept)
    assert kept_turns == [7, 8, 9, 10, 11]  # the newest five
    assert (folder / "notes.txt").exists()
    # the megabytes bound: room for two questions (and never a half-written file)
    transcriber = debugging(cloud, folder, keep_files=100, keep_mb=2.5 * wav_bytes / 1e6)
    for _ in range(4):
        transcriber.transcribe(AUDIO, CancelToken())
    assert len(list(folder.glob("question-*.wav"))) == 2
    assert sum(p.stat().st_size for p in folder.glob("question-*.wav")) <= 2.5 * wav_bytes
    assert not list(folder.glob(".*part"))
