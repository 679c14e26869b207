"""Speech from the first words: the input-streaming WebSocket client against the stand-in service, and its
fallback to the per-sentence HTTP stream through the real ElevenLabs SDK against the fake cloud."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.audio.wavfile import WavSpeaker, read_wav
from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, TtsSettings
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Error, Info, Recorder, Sentence
from appliance.speech.phrases import PhraseCache
from appliance.speech.pipeline import SpeechPipeline
from appliance.speech.streaming import StreamingSpeech
from appliance.text.piece import Piece
from appliance.tts.elevenlabs import ElevenLabsSynth
from appliance.tts.elevenlabs_ws import StreamInputConnection, ws_base_url
from standin.cloud import FakeCloud
from standin.speech import pcm, tts
from standin.tts_ws import FakeStreamInputTTS, Fault, tone_for

RATE = 24000
KEY = "el-test-fakecloud-0123456789"
ANSWER = [
    "It is ",
    "sunny in ",
    "Paris today, ",
    "with a light ",
    "breeze. ",
    "Take ",
    "sunglasses ",
    "if you ",
    "go out. ",
    "Enjoy ",
    "it!",
]
SENTENCES = ["It is sunny in Paris today, with a light breeze.", "Take sunglasses if you go out.", "Enjoy it!"]


@pytest.fixture
def service() -> Iterator[FakeStreamInputTTS]:
    with FakeStreamInputTTS(api_key=KEY) as server:
        yield server


class Rig:
    def __init__(
        self,
        service: FakeStreamInputTTS,
        cloud: FakeCloud,
        tmp_path: Path,
        *,
        pace: float = 0.0,
        timeout: float = 1.0,
        schedule: list[int] | None = None,
        key: str = KEY,
        first_words: int | None = None,
        open_timeout: float = 2.0,
    ) -> None:
        self.service, self.cloud = service, cloud
        self.out = tmp_path / "out.wav"
        self.speaker = WavSpeaker(self.out, rate=RATE, pace=pace, block_ms=20)
        settings = TtsSettings(sample_rate=RATE, timeout=timeout)
        secrets = Secrets(elevenlabs_api_key=KEY, elevenlabs_base_url=cloud.elevenlabs_base_url)
        self.fallback = SpeechPipeline(
            ElevenLabsSynth(settings, secrets), self.speaker, settings, PhraseCache(None), cache_phrases=False
        )
        self.connections: list[StreamInputConnection] = []

        def connect() -> StreamInputConnection:
            conn = StreamInputConnection(
                api_key=key,
                voice_id="voice-1",
                model="eleven_flash_v2_5",
                rate=RATE,
                base_url=service.url,
                chunk_schedule=schedule or [50],
            )
            self.connections.append(conn)
            return conn

        self.speech = StreamingSpeech(
            connect,
            self.fallback,
            self.speaker,
            timeout=timeout,
            open_timeout=open_timeout,
            first_flush_words=first_words,
        )
        self.events = Recorder()

    def speak(self, pieces: Iterator[str] | list[str], cancel: CancelToken | None = None, **kwargs: Any):
        """``pieces`` as the assistant gives them when the turn asks for fragments."""
        fragments = (as_fragment(p) for p in pieces)
        result = self.speech.speak(fragments, cancel or CancelToken(), self.events, **kwargs)
        self.speaker.close()
        return result

    def played(self) -> bytes:
        samples, rate = read_wav(self.out)
        assert rate == RATE
        return (np.round(samples * 32768)).astype("<i2").tobytes()

    def errors(self) -> list[Error]:
        return self.events.of(Error)


def as_fragment(text: str) -> Piece:
    return Piece(text, sentence_end=text.rstrip().endswith((".", "!")))


def generations(conn, schedule: list[int]) -> list[str]:
    """The texts the stand-in generated audio for, by its rule (a flush, the schedule's length, the end)."""
    out: list[str] = []
    buffer = ""
    for message in conn.messages[1:]:
        text = str(message.get("text", ""))
        buffer += text
        threshold = schedule[min(len(out), len(schedule) - 1)]
        if buffer.strip() and (text == "" or message.get("flush") or len(buffer) >= threshold):
            out.append(buffer)
            buffer = ""
    return out


def flushed_first(conn) -> str:
    """What the client had sent when it sent its first flush."""
    at = next(i for i, m in enumerate(conn.messages) if m.get("flush"))
    return "".join(str(m["text"]) for m in conn.messages[1 : at + 1])


def test_ws_base_url() -> None:
    assert ws_base_url("https://api.elevenlabs.io") == "wss://api.elevenlabs.io"
    assert ws_base_url("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080"
    assert ws_base_url("") == "wss://api.elevenlabs.io"


def test_text_streams_in_as_it_comes_with_flushes_at_sentence_ends(service, cloud, tmp_path) -> None:
    rig = Rig(service, cloud, tmp_path)
    result = rig.speak(ANSWER)
    assert result.spoken == SENTENCES and not result.failed and not result.interrupted
    [conn] = service.connections
    assert conn.query == {"model_id": "eleven_flash_v2_5", "output_format": "pcm_24000"}
    assert conn.headers["xi-api-key"] == KEY
    first = conn.messages[0]
    assert first["text"] == " " and first["generation_config"] == {"chunk_length_schedule": [50]}
    assert conn.text.split() == " ".join(ANSWER).split()  # every word sent once, in order
    assert flushed_first(conn) == "It is "  # the first two words, then...
    assert conn.flushes == 4  # ...one per sentence
    assert conn.messages[-1] == {"text": ""}  # the end of input
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES
    assert len(rig.played()) > 0 and rig.errors() == []
    assert cloud.of("tts") == []  # HTTP never used


def test_with_no_early_flush_the_schedule_starts_the_audio_before_the_first_sentence_ends(
    service, cloud, tmp_path
) -> None:
    rig = Rig(service, cloud, tmp_path, schedule=[20], first_words=0)
    heard = threading.Event()

    def pieces() -> Iterator[str]:
        yield from ["The weather ", "in Paris ", "is sunny "]  # 30 characters, no sentence end yet
        assert heard.wait(5.0), "no audio before the first sentence ended"
        yield from ["and warm today."]

    result = rig.speak(pieces(), on_first_audio=heard.set)
    assert result.spoken == ["The weather in Paris is sunny and warm today."]
    [conn] = service.connections
    flush_at = next(i for i, m in enumerate(conn.messages) if m.get("flush"))
    assert "".join(str(m["text"]) for m in conn.messages[1:flush_at]).startswith("The weather in Paris is sunny")


def test_a_refused_upgrade_speaks_the_whole_answer_over_http(service, cloud, tmp_path) -> None:
    service.script(Fault(refuse=500))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path)
    result = rig.speak(ANSWER)
    assert result.spoken == SENTENCES
    requests = [r.json["text"] for r in cloud.of("tts")]
    assert requests == ["It is", SENTENCES[0].removeprefix("It is "), *SENTENCES[1:]]  # the first words early
    assert rig.played() == b"".join(pcm(0.2, seed=len(s)) for s in requests)
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES
    assert rig.errors() == []  # nothing was lost: a fallback, not an error
    [info] = [e for e in rig.events.of(Info) if e.what == "tts_fallback"]
    assert "over HTTP" in info.detail


@pytest.mark.parametrize(
    "fault", [Fault(close_after=4), Fault(stall_after=4), Fault(error="internal_error", error_after=4)]
)
def test_a_break_mid_answer_goes_on_over_http_from_the_next_sentence(service, cloud, tmp_path, fault) -> None:
    """Four audio messages are the whole first sentence (its first words, then the rest; the stand-in splits
    each generation in two); it breaks before the second sentence's audio: only the second and third go over
    HTTP, once each."""
    service.script(fault)
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5)
    started = time.monotonic()
    result = rig.speak(ANSWER)
    assert time.monotonic() - started < 5.0
    assert [r.json["text"] for r in cloud.of("tts")] == SENTENCES[1:]  # nothing heard twice
    assert result.spoken == SENTENCES
    first = tone_for(service.connections[0].text[: len(SENTENCES[0]) + 2], RATE, 1)
    played = rig.played()
    assert played.endswith(b"".join(pcm(0.2, seed=len(s)) for s in SENTENCES[1:]))
    assert len(played) - len(b"".join(pcm(0.2, seed=len(s)) for s in SENTENCES[1:])) <= len(first) + 2 * RATE // 10
    assert len(rig.errors()) == 1
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES  # each announced once
    if fault.stall_after is not None:  # the stall's length, not the player's poll interval (issue #31)
        [error] = rig.errors()
        assert error.kind == ErrorKind.TIMEOUT.value
        found = re.search(r"no speech audio for ([0-9.]+) s", error.message)
        assert found is not None and float(found.group(1)) >= 0.5, error.message


def test_a_break_after_the_first_words_speaks_the_rest_of_that_sentence_over_http(service, cloud, tmp_path) -> None:
    """Issue #31 (9): the first words' audio was heard, nothing of the rest; the rest of the first sentence
    goes over HTTP with the others, and the answer is the whole of it."""
    service.script(Fault(close_after=2))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5)
    started = time.monotonic()
    result = rig.speak(ANSWER)
    assert time.monotonic() - started < 5.0
    assert flushed_first(service.connections[0]) == "It is "
    requests = [r.json["text"] for r in cloud.of("tts")]
    assert requests == [SENTENCES[0].removeprefix("It is "), *SENTENCES[1:]]
    assert said(service, cloud) == " ".join(SENTENCES).split()  # nothing lost, nothing twice
    assert result.spoken == SENTENCES and answer_of(result) == " ".join(SENTENCES)
    assert rig.played() == tone_for("It is ", RATE, 1) + b"".join(pcm(0.2, seed=len(s)) for s in requests)
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES
    assert len(rig.errors()) == 1


def test_a_break_inside_the_first_words_speaks_the_rest_over_http(service, cloud, tmp_path) -> None:
    service.script(Fault(close_after=1))  # "It " was heard
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5)
    result = rig.speak(ANSWER)
    assert [r.json["text"] for r in cloud.of("tts")] == [SENTENCES[0].removeprefix("It "), *SENTENCES[1:]]
    assert said(service, cloud) == " ".join(SENTENCES).split()
    assert result.spoken == SENTENCES


def test_a_word_heard_in_part_is_said_again_whole(service, cloud, tmp_path) -> None:
    service.script(Fault(close_after=1))  # the first half of "Wonderful weather today. ": "Wonderful wea"
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5, first_words=0)
    result = rig.speak(["Wonderful ", "weather ", "today."])
    assert service.connections[0].voiced == ["Wonderful wea"]
    assert [r.json["text"] for r in cloud.of("tts")] == ["weather today."]
    assert result.spoken == ["Wonderful weather today."]


@pytest.mark.parametrize("after", [2, 6])
def test_an_early_final_message_speaks_what_was_not_heard_over_http(service, cloud, tmp_path, after) -> None:
    """Issue #31 (9): the service says final before all the text was spoken (after the first words, or
    after two sentences): what was not heard goes over HTTP, once."""
    service.script(Fault(final_after=after))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5)
    started = time.monotonic()
    result = rig.speak(ANSWER)
    assert time.monotonic() - started < 5.0
    heard = "".join(service.connections[0].voiced)
    assert len(service.connections[0].voiced) == after and cloud.of("tts")
    assert said(service, cloud) == " ".join(SENTENCES).split()
    assert result.spoken == SENTENCES and not result.failed
    assert len(rig.played()) > len(tone_for(heard, RATE, 1))  # more than the WebSocket's part
    assert service.attempts == 1  # no second socket


def test_without_alignments_the_final_message_is_trusted(service, cloud, tmp_path) -> None:
    """A service that names no text with its audio: what was heard cannot be counted, so its end is taken
    as it says (the answer is not said again over HTTP)."""
    service.script(Fault(alignment=False))
    rig = Rig(service, cloud, tmp_path)
    result = rig.speak(ANSWER)
    assert result.spoken == SENTENCES and cloud.of("tts") == [] and rig.errors() == []


VALID_AUDIO = base64.b64encode(b"\x00\x01" * 240).decode()


@pytest.mark.parametrize(
    "garbage",
    [
        "this is not JSON {",
        json.dumps(["audio"]),
        json.dumps({"audio": "***not base64***", "isFinal": None}),
        json.dumps({"audio": 12345, "isFinal": None}),
        json.dumps({"audio": VALID_AUDIO, "alignment": {"chars": "sunny"}}),
        json.dumps({"audio": VALID_AUDIO, "alignment": {"chars": [1, 2]}}),
        json.dumps({"audio": None, "isFinal": "yes"}),
    ],
)
def test_a_garbage_frame_falls_back_once_and_nothing_is_lost(service, cloud, tmp_path, garbage) -> None:
    service.script(Fault(garbage=garbage, garbage_after=2))  # after the first words' audio
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, timeout=0.5)
    started = time.monotonic()
    result = rig.speak(ANSWER)
    assert time.monotonic() - started < 5.0
    assert [r.json["text"] for r in cloud.of("tts")] == [SENTENCES[0].removeprefix("It is "), *SENTENCES[1:]]
    assert said(service, cloud, received=2) == " ".join(SENTENCES).split()
    assert result.spoken == SENTENCES
    [error] = rig.errors()
    assert error.kind == ErrorKind.TTS.value and "over HTTP" in error.message
    assert service.attempts == 1


def said(service: FakeStreamInputTTS, cloud: FakeCloud, received: int | None = None) -> list[str]:
    """Every word synthesized and received, over the WebSocket (its first ``received`` audio messages when
    the client stopped reading after them), then over HTTP."""
    voiced = "".join("".join(conn.voiced[:received]) for conn in service.connections)
    return (voiced + " " + " ".join(r.json["text"] for r in cloud.of("tts"))).split()


def answer_of(result) -> str:
    """The ``answer`` event's text, as the turn makes it."""
    return " ".join(result.spoken + result.failed).strip()


def test_a_refused_key_is_reported_once_and_not_retried_over_http(service, cloud, tmp_path) -> None:
    rig = Rig(service, cloud, tmp_path, key="el-wrong-key-0000")
    result = rig.speak(ANSWER)
    assert result.spoken == [] and result.failed == SENTENCES  # the text still reaches the events
    assert [e.kind for e in rig.errors()] == [ErrorKind.AUTH.value]
    assert cloud.of("tts") == []


def test_quota_mid_answer_is_reported_once_and_the_rest_kept_as_text(service, cloud, tmp_path) -> None:
    service.script(Fault(error="quota_exceeded", error_after=4))
    rig = Rig(service, cloud, tmp_path)
    result = rig.speak(ANSWER)
    assert result.spoken == SENTENCES[:1] and result.failed == SENTENCES[1:]
    assert [e.kind for e in rig.errors()] == [ErrorKind.QUOTA.value]
    assert cloud.of("tts") == []
    rig.speaker = WavSpeaker(tmp_path / "again.wav", rate=RATE)
    service.script(Fault(error="quota_exceeded", error_after=0))
    rig.speech.speak(iter([Piece.whole("Hello there.")]), CancelToken(), rig.events)
    assert len(rig.errors()) == 1  # said once


def test_cancel_stops_audio_within_200_ms_and_closes_the_socket(service, cloud, tmp_path) -> None:
    rig = Rig(service, cloud, tmp_path, pace=1.0)
    cancel = CancelToken()
    heard = threading.Event()
    stopped: list[float] = []

    def cancel_soon() -> None:
        assert heard.wait(5.0)
        time.sleep(0.3)
        stopped.append(time.monotonic())
        cancel.cancel("button")

    threading.Thread(target=cancel_soon, daemon=True).start()
    result = rig.speech.speak(map(as_fragment, ANSWER * 3), cancel, rig.events, on_first_audio=heard.set)
    took = time.monotonic() - stopped[0]
    assert result.interrupted and took < 0.2
    assert service.connections[0].closed.wait(2.0)


def test_prepare_opens_the_connection_before_the_turn(service, cloud, tmp_path) -> None:
    service.script(Fault(setup_delay=0.3))
    rig = Rig(service, cloud, tmp_path)
    rig.speech.prepare()
    deadline = time.monotonic() + 5
    while not (service.connections and rig.speech.opener._ready) and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    started = time.monotonic()
    heard: list[float] = []
    result = rig.speak(ANSWER, on_first_audio=lambda: heard.append(time.monotonic()))
    assert result.spoken == SENTENCES
    assert len(service.connections) == 1 and service.attempts == 1  # the prepared one was used
    assert heard[0] - started < 0.3  # the setup delay was paid before the turn


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("prepared", [False, True])
def test_the_model_request_does_not_wait_for_the_speech_handshake(service, cloud, tmp_path, prepared) -> None:
    """Issue #31 (8): the handshake is answered only once the model has been asked (it would never be if
    the answer waited for the socket); a handshake already under way is used, never a second socket."""
    asked = threading.Event()
    service.script(Fault(hold=asked))
    rig = Rig(service, cloud, tmp_path, open_timeout=2.0)
    if prepared:
        rig.speech.prepare()
        wait_for(lambda: service.attempts == 1)

    def pieces() -> Iterator[str]:
        asked.set()
        yield from ANSWER

    result = rig.speak(pieces())
    assert result.spoken == SENTENCES
    assert service.attempts == 1 and len(rig.connections) == 1  # one socket, the one opening
    assert cloud.of("tts") == []  # all of it over the WebSocket
    assert rig.speech.opener._ready is None  # noqa: SLF001  (nothing left behind for the next turn)


@pytest.mark.parametrize("prepared", [False, True])
def test_a_stalled_handshake_falls_back_to_http_once_within_its_bound(service, cloud, tmp_path, prepared) -> None:
    """Issue #31 (8): a handshake that never completes is waited for once, within its bound, then the
    whole answer goes over HTTP (the first words early); never a second socket."""
    never = threading.Event()
    service.script(Fault(hold=never))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path, open_timeout=0.5)
    if prepared:
        rig.speech.prepare()
        wait_for(lambda: service.attempts == 1)
    started = time.monotonic()
    result = rig.speak(ANSWER)
    assert time.monotonic() - started < 3.0  # the bound (0.5 s), not twice it nor the turn's
    assert service.attempts == 1 and len(rig.connections) == 1
    requests = [r.json["text"] for r in cloud.of("tts")]
    assert requests == ["It is", SENTENCES[0].removeprefix("It is "), *SENTENCES[1:]]
    assert said(service, cloud) == " ".join(SENTENCES).split()
    assert result.spoken == SENTENCES and rig.errors() == []
    assert [e.what for e in rig.events.of(Info)] == ["tts_fallback"]
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES


def test_a_connection_that_failed_to_open_ahead_sends_the_turn_over_http_at_once(service, cloud, tmp_path) -> None:
    """The socket opened on the wake word was refused: the turn goes over HTTP, without a second socket."""
    service.script(Fault(refuse=500))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=len(r.json["text"]))))
    rig = Rig(service, cloud, tmp_path)
    rig.speech.opener._prepare()  # noqa: SLF001  (as prepare() does in the background)
    result = rig.speak(ANSWER)
    assert service.attempts == 1
    assert result.spoken == SENTENCES and len(cloud.of("tts")) == 4
    rig.speaker = WavSpeaker(tmp_path / "again.wav", rate=RATE)
    rig.speech.speaker = rig.speaker
    assert rig.speech.speak(iter([Piece.whole("Hello there.")]), CancelToken(), rig.events).spoken == ["Hello there."]
    assert service.attempts == 2 and len(cloud.of("tts")) == 4  # the next turn tries the socket again


def test_an_idle_prepared_connection_is_not_trusted(service, cloud, tmp_path) -> None:
    rig = Rig(service, cloud, tmp_path)
    clock = [0.0]
    rig.speech._clock = rig.speech.opener._clock = lambda: clock[0]  # noqa: SLF001
    rig.speech.opener._prepare()  # noqa: SLF001
    assert len(service.connections) == 1
    clock[0] = 60.0
    result = rig.speak(ANSWER)
    assert result.spoken == SENTENCES
    assert service.attempts == 2 and service.connections[0].closed.wait(2.0)


def test_the_assistant_failing_before_any_text_is_the_turns_error(service, cloud, tmp_path) -> None:
    def pieces() -> Iterator[str]:
        raise ApplianceError(ErrorKind.CONNECTION, "no answer", stage="assistant")
        yield ""

    rig = Rig(service, cloud, tmp_path)
    with pytest.raises(ApplianceError, match="no answer"):
        rig.speak(pieces())


def test_the_first_flush_comes_after_the_first_words_and_the_user_hears_each_sentence_once(
    service, cloud, tmp_path
) -> None:
    rig = Rig(service, cloud, tmp_path, schedule=[50])
    heard = threading.Event()

    def pieces() -> Iterator[str]:
        yield from ANSWER[:2]  # "It is sunny in ": two words and more, no sentence end
        assert heard.wait(5.0), "no audio before the first sentence ended"
        yield from ANSWER[2:]

    result = rig.speak(pieces(), on_first_audio=heard.set)
    [conn] = service.connections
    assert flushed_first(conn) == "It is "  # whole words only, before the schedule's 50 characters
    assert result.spoken == SENTENCES and [e.text for e in rig.events.of(Sentence)] == SENTENCES
    made = generations(conn, [50])
    assert made[0] == "It is " and "".join(made).split() == "".join(ANSWER).split()  # every word spoken once
    assert rig.played() == b"".join(tone_for(text, RATE, seed) for seed, text in enumerate(made, 1))
    assert cloud.of("tts") == []


@pytest.mark.parametrize(
    "pieces,words,first",
    [
        (["Sure, ", "the weather ", "is fine."], 4, "Sure, "),  # the first clause, sooner than four words
        (["Well ", "I think ", "so."], 3, "Well I think "),
        # the first sentence ended first: its flush (with a space, as its text went out already)
        (["Yes. ", "It is ", "fine."], 3, "Yes.  "),
    ],
)
def test_the_first_flush_is_at_the_first_clause_or_words_whichever_is_sooner(
    service, cloud, tmp_path, pieces, words, first
) -> None:
    rig = Rig(service, cloud, tmp_path, first_words=words)
    result = rig.speak(pieces)
    [conn] = service.connections
    assert flushed_first(conn) == first
    assert " ".join(result.spoken) == "".join(pieces)


def test_an_announcements_plain_text_is_not_cut_at_its_first_words(service, cloud, tmp_path) -> None:
    rig = Rig(service, cloud, tmp_path)
    result = rig.speech.speak(iter([Piece.whole("Dinner is ready.")]), CancelToken(), rig.events)
    [conn] = service.connections
    assert conn.flushes == 1 and generations(conn, [50]) == ["Dinner is ready. "]
    assert result.spoken == ["Dinner is ready."]


def test_an_announcement_over_http_is_one_request(service, cloud, tmp_path) -> None:
    service.script(Fault(refuse=500))
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=1)))
    rig = Rig(service, cloud, tmp_path)
    result = rig.speech.speak(iter([Piece.whole("Dinner is ready.")]), CancelToken(), rig.events)
    assert [r.json["text"] for r in cloud.of("tts")] == ["Dinner is ready."]
    assert result.spoken == ["Dinner is ready."]


def test_speech_trusts_the_assistants_sentence_ends_and_splits_nothing_again(service, cloud, tmp_path) -> None:
    """A sentence is what the assistant marked: text that came whole is one sentence (one flush, one event),
    whatever full stops it holds; fragments are put together up to each mark."""
    rig = Rig(service, cloud, tmp_path, first_words=0)
    result = rig.speech.speak(iter([Piece.whole("It is 5 p.m. Dinner is ready.")]), CancelToken(), rig.events)
    assert result.spoken == ["It is 5 p.m. Dinner is ready."] and service.connections[0].flushes == 1
    rig = Rig(service, cloud, tmp_path, first_words=0)
    pieces = [Piece("Well, Dr. "), Piece("Smith is in."), Piece(" He said"), Piece(" so.", sentence_end=True)]
    result = rig.speech.speak(iter(pieces), CancelToken(), rig.events)
    assert result.spoken == ["Well, Dr. Smith is in. He said so."]  # no mark after "in.": one sentence
    assert [e.text for e in rig.events.of(Sentence)] == result.spoken and service.connections[1].flushes == 1
