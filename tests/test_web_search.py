"""The hosted web search (issue #27, part 1): offered with the appliance's location, its real event stream from the
stand-in cloud (parsed by the real openai SDK, over HTTP and the WebSocket), its answer spoken without URLs or
citation marks, its progress as events and timings, the filler while it runs, and a stalled search.

The turn tests run the real :class:`TurnRunner` with the real assistant against the stand-in's Responses API and
the real speech pipeline (ElevenLabs SDK against the stand-in, a WAV speaker, the phrase cache on disk)."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pydantic
import pytest
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionWebSearch,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseStreamEvent,
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
)

from appliance.audio.wavfile import WavSpeaker, read_wav
from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets, SettingsError, TtsSettings
from appliance.core.machine import Progress, TurnDone, TurnProgress
from appliance.core.turn import Stages, TurnRunner
from appliance.errors import ApplianceError, ErrorKind
from appliance.events import Info, Recorder, ToolCall
from appliance.llm.openai_socket import OpenAiEndpoint
from appliance.llm.responses import ResponsesAssistant
from appliance.ports import ToolContext
from appliance.retry import RetryPolicy
from appliance.speech.phrases import PHRASES, SEARCH_FILLER, SEARCH_TIMEOUT, PhraseCache, searching_tone
from appliance.speech.pipeline import SpeechPipeline
from appliance.tools import ToolRegistry
from appliance.tts.elevenlabs import ElevenLabsSynth
from standin.cloud import FakeCloud
from standin.headless import appliance_env, run
from standin.responses import ResponsesServer, Wire
from standin.responses_ws import ResponsesWsServer
from standin.speech import pcm, transcript, tts
from standin.voice import concat, room, synth, write_wav

RATE = 24000
WEATHER = (
    "It is sunny in Paris today, with a high of eighteen degrees "
    "([meteo.fr](https://meteo.fr/paris/previsions?utm_source=openai)). "
    "Rain is expected tomorrow evening. "
    "([weather.com](https://weather.com/fr-FR/weather/today/l/Paris?utm_source=openai), "
    "[bbc.com](https://www.bbc.com/weather/2988507?utm_source=openai)) "
    "According to [Le Monde](https://www.lemonde.fr/meteo/?utm_source=openai), the weekend stays mild."
)
SPOKEN = [
    "It is sunny in Paris today, with a high of eighteen degrees.",
    "Rain is expected tomorrow evening.",
    "According to Le Monde,",
    "the weekend stays mild.",
]
QUERY = "weather Paris today"


def settings(**overrides: Any) -> AssistantSettings:
    values: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 5.0, "deadline": 8.0, "max_retries": 1}
    values.update(overrides)
    made = AssistantSettings(**values)
    made.validate()
    return made


def assistant(cloud: FakeCloud, s: AssistantSettings, *, ws: ResponsesWsServer | None = None) -> ResponsesAssistant:
    secrets = Secrets.from_env(cloud.env())
    client = openai.OpenAI(
        api_key=secrets.openai_api_key,
        base_url=cloud.openai_base_url,
        websocket_base_url=ws.url if ws is not None else None,
        max_retries=0,
    )
    made = ResponsesAssistant(
        s,
        secrets,
        ToolRegistry(),
        lambda cancel, emit: ToolContext(controls=None, camera=None, indicators=None, cancel=cancel, emit=emit),
        client=client,
        endpoint=OpenAiEndpoint(secrets.openai_api_key, cloud.openai_base_url, ws.url if ws is not None else ""),
        retry_policy=RetryPolicy(max_retries=s.max_retries, deadline=s.deadline, base=0.05, rng=random.Random(0)),
        transport="websocket" if ws is not None else "http",
    )
    made.warm()
    return made


# --- the request --------------------------------------------------------------------------------------------


def test_the_search_is_offered_with_the_location_and_empty_fields_are_not_sent(cloud: FakeCloud) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    located = settings(
        location_city="Paris", location_region="Île-de-France", location_country="fr", location_timezone="Europe/Paris"
    )
    city_only = settings(location_city="Lyon")
    server.then(*(wire.text("Hello.") for _ in range(4)))
    for s in (located, city_only, settings(web_search=False), settings(reasoning_effort="minimal")):
        assert [p.text for p in assistant(cloud, s).respond("Hi", CancelToken(), Recorder())] == ["Hello."]
    tools = [body.get("tools", []) for body in server.bodies()]
    assert tools[0] == [
        {
            "type": "web_search",
            "user_location": {
                "type": "approximate",
                "city": "Paris",
                "region": "Île-de-France",
                "country": "FR",
                "timezone": "Europe/Paris",
            },
        }
    ]
    assert tools[1] == [{"type": "web_search", "user_location": {"type": "approximate", "city": "Lyon"}}]
    assert tools[2] == tools[3] == []  # off, or with reasoning effort "minimal" (which the API refuses it with)
    assert server.rejected == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("location_country", "France"), ("location_timezone", "Paris/France"), ("search_filler_seconds", -1.0)],
)
def test_a_location_the_api_would_refuse_is_a_settings_error(field: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=field):
        settings(**{field: value})


def test_the_stand_in_refuses_a_location_the_api_refuses(cloud: FakeCloud) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.text("Hello."))
    client = openai.OpenAI(api_key="sk-test-0123456789", base_url=cloud.openai_base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="country"):
        client.responses.create(
            model="m",
            input="hi",
            tools=[{"type": "web_search", "user_location": {"type": "approximate", "country": "France"}}],
        )
    with pytest.raises(openai.BadRequestError, match="reasoning.effort 'minimal'"):
        client.responses.create(model="m", input="hi", tools=[{"type": "web_search"}], reasoning={"effort": "minimal"})
    assert [why for _, why in server.rejected] == [
        "Invalid value for 'tools[0].user_location.country': expected a two-letter ISO country code.",
        "The following tools cannot be used with reasoning.effort 'minimal': web_search.",
    ]


# --- the stream -----------------------------------------------------------------------------------------------


def test_the_stand_in_streams_the_hosted_tools_real_events(cloud: FakeCloud) -> None:
    """Every event validates strictly as the SDK's own type (not only parsed leniently)."""
    server, wire = ResponsesServer(cloud), Wire()
    script = wire.web_search(WEATHER, query=QUERY)
    server.then(script)
    client = openai.OpenAI(api_key="sk-test-0123456789", base_url=cloud.openai_base_url, max_retries=0)
    stream = client.responses.create(model="m", input="weather?", tools=[{"type": "web_search"}], stream=True)
    events = list(stream)
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
    for raw in script.events:
        adapter.validate_python(raw)  # strict: every required field, the right literals
    kinds = [type(e) for e in events]
    assert kinds.index(ResponseWebSearchCallInProgressEvent) < kinds.index(ResponseWebSearchCallSearchingEvent)
    assert kinds.index(ResponseWebSearchCallSearchingEvent) < kinds.index(ResponseWebSearchCallCompletedEvent)
    annotations = [e.annotation for e in events if isinstance(e, ResponseOutputTextAnnotationAddedEvent)]
    assert [a.type for a in annotations] == ["url_citation"] * 3
    for a in annotations:  # each covers its link "[site](url)" in an inline citation
        assert WEATHER[a.start_index : a.end_index] == f"[{a.title.split(':')[0]}]({a.url})"
    [completed] = [e for e in events if isinstance(e, ResponseCompletedEvent)]
    final = completed.response
    search, message = final.output
    assert isinstance(search, ResponseFunctionWebSearch) and search.action.query == QUERY
    assert message.content[0].text == WEATHER and len(message.content[0].annotations) == 3


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_the_answer_is_spoken_without_urls_or_citations_and_the_search_is_an_event(
    cloud: FakeCloud, transport: str
) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    ws = ResponsesWsServer(server) if transport == "websocket" else None
    try:
        a = assistant(cloud, settings(), ws=ws)
        first = wire.web_search(WEATHER, query=QUERY, seconds=0.3)
        server.then(first, wire.text("You're welcome."))
        events, timings = Recorder(), _timings()
        said = [p.text for p in a.respond("What's the weather like?", CancelToken(), events, timings=timings)]
        assert said == SPOKEN
        assert not any(re.search(r"https?:|www\.|utm_|\[|\]|\(|\)|\*|meteo\.fr|weather\.com", s) for s in said)
        assert events.of(Info)[0] == Info("web_search", "searching")
        [call] = events.of(ToolCall)
        assert (call.tool, call.arguments, call.ok) == ("web_search", '{"query": "weather Paris today"}', True)
        assert call.call_id.startswith("ws_") and call.ms > 0  # the stand-in searched for 0.3 s
        marks = timings.marks()
        assert marks["llm_search_start"] < marks["llm_search_done"] < marks["llm_first_delta"]
        assert timings.spans_ms()["search_ms"] > 0
        # the next turn follows on without an output for the search (the server's own call)
        assert [p.text for p in a.respond("Thanks!", CancelToken(), Recorder())] == ["You're welcome."]
        bodies = ws.received if ws is not None else server.bodies()
        assert bodies[1]["previous_response_id"] == first.response_id
        assert not [i for i in bodies[1]["input"] if i.get("type") == "function_call_output"]
        assert server.rejected == []
        a.close()
    finally:
        if ws is not None:
            ws.close()


def test_text_before_the_search_is_said_first_and_no_filler_is_asked_for(cloud: FakeCloud) -> None:
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.web_search("It is sunny.", query=QUERY, before="Let me check the forecast.", seconds=0.6))
    fillers: list[float] = []
    a = assistant(cloud, settings(search_filler_seconds=0.1))
    said = [
        p.text
        for p in a.respond("Weather?", CancelToken(), Recorder(), filler=lambda c: fillers.append(time.monotonic()))
    ]
    assert said == ["Let me check the forecast.", "It is sunny."] and fillers == []


# --- the turn: filler and stall -------------------------------------------------------------------------------


class Rig:
    """One turn, whole: the real assistant, the real speech pipeline, a WAV speaker, the phrase cache on disk."""

    def __init__(
        self,
        cloud: FakeCloud,
        tmp_path: Path,
        *,
        cache_phrases: bool = False,
        pace: float = 0.0,
        **assistant_settings: Any,
    ):
        self.cloud = cloud
        self.server, self.wire = ResponsesServer(cloud), Wire()
        self.settings = settings(**assistant_settings)
        self.assistant = assistant(cloud, self.settings)
        secrets = Secrets(elevenlabs_api_key="el-test-tts-0123456789", elevenlabs_base_url=cloud.elevenlabs_base_url)
        tts_settings = TtsSettings(sample_rate=RATE, timeout=2.0, first_flush_words=0)
        self.phrases = PhraseCache(tmp_path / "phrases")
        self.out = tmp_path / "out.wav"
        self.speaker = WavSpeaker(self.out, rate=RATE, pace=pace, block_ms=20)
        self.speech = SpeechPipeline(
            ElevenLabsSynth(tts_settings, secrets),
            self.speaker,
            tts_settings,
            self.phrases,
            cache_phrases=cache_phrases,
        )
        self.events = Recorder()
        self.posted: list[Any] = []
        self.reported: list[ApplianceError] = []
        cloud.default("tts", lambda r: tts(pcm(0.3, seed=1 + len(r.body) % 5)))

    def keep(self, key: str, seed: int) -> bytes:
        """The phrase as a device has it once synthesized (distinct audio, found again in the output)."""
        audio = pcm(0.4, seed=seed)
        self.phrases.store(key, np.frombuffer(audio, dtype="<i2"), RATE)
        return audio

    def turn(self, question: str = "What's the weather like in Paris?", *, wait: bool = True) -> TurnRunner:
        stages = Stages(
            transcriber=None,
            assistant=self.assistant,
            speech=self.speech,
            emit=self.events,
            post=self.posted.append,
            report=self.reported.append,
            earcon=lambda make, cancel: None,
        )
        runner = TurnRunner(1, stages, deadline_seconds=self.settings.deadline, follow_up=False)
        if wait:
            runner.run(None, question)
        else:
            runner.start(None, question)
        return runner

    def played(self) -> bytes:
        self.speaker.close()
        samples, rate = read_wav(self.out)
        assert rate == RATE
        return np.round(samples * 32768).astype("<i2").tobytes()

    def synthesized(self) -> list[str]:
        return [r.json["text"] for r in self.cloud.of("tts")]

    def progress(self) -> list[Progress]:
        return [p.what for p in self.posted if isinstance(p, TurnProgress)]


def test_the_filler_is_heard_when_the_first_text_is_late(cloud: FakeCloud, tmp_path: Path) -> None:
    rig = Rig(cloud, tmp_path, search_filler_seconds=0.2)
    filler = rig.keep(SEARCH_FILLER, seed=9)
    rig.server.then(rig.wire.web_search("It is sunny in Paris.", query=QUERY, seconds=1.5))
    runner = rig.turn()
    assert rig.posted[-1] == TurnDone(1, "answered", False)
    played = rig.played()
    assert played.startswith(filler) and len(played) > len(filler)  # the filler, then the answer
    marks = runner.timings.marks()
    assert marks["filler"] < marks["llm_first_delta"] < marks["first_audio"]
    assert runner.timings.spans_ms()["end_of_speech_to_filler_ms"] < 1000
    assert PHRASES[SEARCH_FILLER] not in rig.synthesized()  # cached: played, never synthesized
    assert rig.synthesized() == ["It is sunny in Paris."]
    assert rig.progress() == [Progress.SPEAKING, Progress.THINKING, Progress.SPEAKING, Progress.SPEAKING]


def test_no_filler_when_the_first_text_comes_in_time(cloud: FakeCloud, tmp_path: Path) -> None:
    rig = Rig(cloud, tmp_path, search_filler_seconds=3.0)  # generous: the answer comes long before
    filler = rig.keep(SEARCH_FILLER, seed=9)
    rig.server.then(rig.wire.web_search("It is sunny in Paris.", query=QUERY, seconds=0.05))
    runner = rig.turn()
    assert rig.posted[-1] == TurnDone(1, "answered", False)
    assert filler[:4800] not in rig.played() and "filler" not in runner.timings.marks()
    assert rig.events.of(ToolCall)[0].tool == "web_search"


def test_the_filler_is_a_soft_sound_until_it_is_cached_then_never_synthesized_again(
    cloud: FakeCloud, tmp_path: Path
) -> None:
    rig = Rig(cloud, tmp_path, cache_phrases=True, search_filler_seconds=0.2)
    rig.server.then(
        rig.wire.web_search("It is sunny in Paris.", query=QUERY, seconds=1.0),
        rig.wire.web_search("It is sunny in Lyon.", query="weather Lyon", seconds=1.0),
    )
    rig.turn()
    tone, _ = searching_tone()
    assert rig.played().startswith(tone.astype("<i2").tobytes())  # a new device: the soft sound
    deadline = time.monotonic() + 10
    while not rig.phrases.has(SEARCH_FILLER) and time.monotonic() < deadline:  # cached after the first answer
        time.sleep(0.05)
    cached, _ = rig.phrases.audio(SEARCH_FILLER)
    rig.speaker = WavSpeaker(rig.out, rate=RATE, pace=0.0, block_ms=20)
    rig.speech.speaker = rig.speaker
    rig.turn("And in Lyon?")
    assert rig.played().startswith(cached.astype("<i2").tobytes())  # now the phrase, from the cache
    assert rig.synthesized().count(PHRASES[SEARCH_FILLER]) == 1  # synthesized once, for the cache


def test_a_press_during_the_filler_stops_it_and_the_turn(cloud: FakeCloud, tmp_path: Path) -> None:
    rig = Rig(cloud, tmp_path, pace=1.0, search_filler_seconds=0.1)
    filler = rig.keep(SEARCH_FILLER, seed=9)  # 0.4 s, played in real time
    rig.server.then(rig.wire.web_search("It is sunny in Paris.", query=QUERY, seconds=3.0))
    runner = rig.turn(wait=False)
    deadline = time.monotonic() + 10
    while "filler" not in runner.timings and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop("button")
    assert runner.thread is not None
    runner.thread.join(timeout=5)
    assert not runner.thread.is_alive() and rig.posted[-1] == TurnDone(1, "cancelled", False)
    assert len(rig.played()) < len(filler)  # cut short
    assert rig.progress() == [Progress.SPEAKING]  # not shown thinking again after the press
    assert rig.synthesized() == []


def test_a_stalled_search_ends_within_the_deadline_with_a_spoken_apology(cloud: FakeCloud, tmp_path: Path) -> None:
    rig = Rig(cloud, tmp_path, deadline=2.0, read_timeout=30.0, search_filler_seconds=0.2)
    filler, apology = rig.keep(SEARCH_FILLER, seed=9), rig.keep(SEARCH_TIMEOUT, seed=8)
    script = rig.wire.web_search("It is sunny in Paris.", query=QUERY)
    rig.server.then(script.cut(stall_after=script.index("response.web_search_call.searching") + 1, stall_seconds=20))
    start = time.monotonic()
    runner = rig.turn()
    took = time.monotonic() - start
    assert rig.posted[-1] == TurnDone(1, "error", False)
    assert took < 2.0 + 2.0  # bounded by the 2 s deadline (the stand-in would stall for 20 s)
    [error] = rig.reported
    assert (error.kind, error.stage) == (ErrorKind.TIMEOUT, "web_search")
    assert rig.played() == filler + apology  # "Let me look that up." ... "Sorry, the search took too long."
    assert "filler" in runner.timings.marks() and rig.synthesized() == []


@pytest.mark.slow
def test_the_whole_appliance_answers_a_web_search_out_loud(cloud: FakeCloud, tmp_path: Path) -> None:
    """``appliance run`` (headless, WAV microphone and speaker): the question, the search with its filler, the
    answer without a URL, the events and the turn's timings."""
    question = tmp_path / "q.wav"
    write_wav(
        question,
        room(
            concat(synth("Hey Jarvis!"), np.zeros(6400, np.int16), synth("What is the weather like in Paris?")),
            snr_db=45,
            lead=0.8,
            tail=5.0,
        ),
    )
    server, wire = ResponsesServer(cloud), Wire()
    cloud.default("transcriptions", transcript("What is the weather like in Paris?"))
    cloud.default("tts", lambda r: tts(pcm(0.4, seed=len(r.body) % 7)))
    server.then(wire.web_search(WEATHER, query=QUERY, seconds=2.0))
    config = '[assistant]\nlocation_city = "Paris"\nlocation_country = "FR"\nsearch_filler_seconds = 0.2\n'
    result = run(tmp_path, question, "--pace", "2", env=appliance_env(cloud.env(), home=tmp_path), config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert server.bodies()[0]["tools"][-1] == {
        "type": "web_search",
        "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
    }
    [call] = result.of("tool_call")
    assert (call["name"], call["arguments"], call["ok"]) == ("web_search", '{"query": "weather Paris today"}', True)
    assert " ".join(s["text"] for s in result.of("sentence")) == " ".join(SPOKEN)  # (cut at other clauses)
    assert result.of("answer")[0]["text"] == " ".join(SPOKEN)
    turn = result.of("turn")[0]
    assert turn["outcome"] == "answered" and turn["search_ms"] > 0
    assert turn["end_of_speech_to_filler_ms"] < turn["end_of_speech_to_first_audio_ms"]
    assert result.states() == ["idle", "listening", "thinking", "speaking", "thinking", "speaking", "idle"]
    assert result.of("error") == [] and server.rejected == []


def _timings() -> Any:
    from appliance.timings import TurnTimings

    return TurnTimings()
