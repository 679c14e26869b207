"""The device's own commands: the strict matcher on text, carrying commands out with the real timer service,
and the exchange joining the model's conversation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import pytest
from doubles import Controls
from hassil import Intents, TextSlotList
from hassil.sample import sample_sentence

from appliance.cancel import CancelToken
from appliance.config.settings import SettingsError, load
from appliance.events import Answer, Event, Info, Recorder, Sentence, Turn
from appliance.llm.conversation import LOCAL_ITEMS, Conversation
from appliance.local.commands import LocalCommands
from appliance.local.intents import Command, Intent
from appliance.local.matcher import CommandMatcher, TemplateError, load_templates
from appliance.local.replies import REPLIES
from appliance.timers.service import TimerService


@pytest.fixture(scope="module")
def matcher() -> CommandMatcher:
    return CommandMatcher()


COMMANDS: list[tuple[str, Command]] = [
    ("set a timer for ten minutes", Command(Intent.TIMER_START, seconds=600)),
    ("Set a timer for 10 minutes.", Command(Intent.TIMER_START, seconds=600)),
    ("please set a timer for twenty five minutes", Command(Intent.TIMER_START, seconds=1500)),
    ("Could you set a 10-minute timer?", Command(Intent.TIMER_START, seconds=600)),
    ("set a ten minute pasta timer", Command(Intent.TIMER_START, seconds=600, name="pasta")),
    ("set a pasta timer for 8 minutes", Command(Intent.TIMER_START, seconds=480, name="pasta")),
    ("set an egg timer for seven minutes", Command(Intent.TIMER_START, seconds=420, name="egg")),
    ("an eight minute timer", Command(Intent.TIMER_START, seconds=480)),
    ("set a timer for a minute and a half", Command(Intent.TIMER_START, seconds=90)),
    ("set a timer for half an hour", Command(Intent.TIMER_START, seconds=1800)),
    ("set a timer for an hour and a half", Command(Intent.TIMER_START, seconds=5400)),
    ("set a timer for two and a half minutes", Command(Intent.TIMER_START, seconds=150)),
    ("set a timer for 1 hour and 30 minutes", Command(Intent.TIMER_START, seconds=5400)),
    ("set a timer for one hour thirty minutes", Command(Intent.TIMER_START, seconds=5400)),
    ("set a timer for 2 minutes and 30 seconds", Command(Intent.TIMER_START, seconds=150)),
    ("set a timer for ninety seconds", Command(Intent.TIMER_START, seconds=90)),
    ("timer for 3 minutes", Command(Intent.TIMER_START, seconds=180)),
    ("tea timer 4 minutes", Command(Intent.TIMER_START, seconds=240, name="tea")),
    ("remind me in 20 minutes", Command(Intent.TIMER_START, seconds=1200)),
    ("how long left on the timer", Command(Intent.TIMER_STATUS)),
    ("How much time is left on the pasta timer?", Command(Intent.TIMER_STATUS, name="pasta")),
    ("how long until the timer goes off", Command(Intent.TIMER_STATUS)),
    ("cancel the timer", Command(Intent.TIMER_CANCEL)),
    ("stop the pasta timer", Command(Intent.TIMER_CANCEL, name="pasta")),
    ("cancel all timers", Command(Intent.TIMER_CANCEL_ALL)),
    ("louder", Command(Intent.VOLUME_UP)),
    ("turn it up", Command(Intent.VOLUME_UP)),
    ("a bit quieter please", Command(Intent.VOLUME_DOWN)),
    ("turn down the volume", Command(Intent.VOLUME_DOWN)),
    ("volume to 30 percent", Command(Intent.VOLUME_SET, percent=30)),
    ("Set the volume to 30%.", Command(Intent.VOLUME_SET, percent=30)),
    ("set the volume to seventy", Command(Intent.VOLUME_SET, percent=70)),
    ("What time is it?", Command(Intent.TIME)),
    ("what time is it right now", Command(Intent.TIME)),
    ("what's the time", Command(Intent.TIME)),
    ("Stop.", Command(Intent.STOP)),
    ("okay stop", Command(Intent.STOP)),
    ("that's enough", Command(Intent.STOP)),
    ("Never mind.", Command(Intent.NEVER_MIND)),
    ("nevermind", Command(Intent.NEVER_MIND)),
    ("forget everything", Command(Intent.FORGET)),
    ("start over", Command(Intent.FORGET)),
]


@pytest.mark.parametrize(("text", "expected"), COMMANDS)
def test_commands_match_with_their_values(matcher: CommandMatcher, text: str, expected: Command) -> None:
    assert matcher.match(text) == expected


NOT_COMMANDS = [
    "set a timer for my mother's birthday party planning",
    "what time is the match",
    "what time does the shop open",
    "what time is it in Tokyo",
    "what's the time difference between London and Paris",
    "stop the war",
    "stop the music and play jazz",
    "how do I stop a nosebleed",
    "set a timer",
    "set a timer for two point five minutes",
    "set a timer for 2.5 minutes",
    "set a timer for zero minutes",
    "set a timer for 500 hours",
    "set a birthday timer for ten minutes",
    "remind me in 20 minutes to call mum",
    "how long is left in the game",
    "how long does it take to boil an egg",
    "cancel my subscription",
    "cancel the meeting",
    "louder than a bomb",
    "who sings louder",
    "volume to 300 percent",
    "what is the volume of the moon",
    "turn up the heating",
    "forget about it and tell me a joke",
    "never mind the weather, what about tomorrow",
    "timer",
    "tell me about timers",
    "why do timers beep",
    "is it time to go",
    "what is time",
    "start the car",
    "quiet places to visit in Lyon",
    "set an alarm for seven",
    "",
    "   ",
    "stop " * 40,
]


@pytest.mark.parametrize("text", NOT_COMMANDS)
def test_everything_else_goes_to_the_model(matcher: CommandMatcher, text: str) -> None:
    assert matcher.match(text) is None


def test_every_template_sentence_matches_its_own_intent(matcher: CommandMatcher) -> None:
    """Sentences made from every template (each template's first expansions, numbers as digits and words)
    match, and match the intent they were made from: no template shadows another's sentences."""
    intents = Intents.from_dict(load_templates())
    small = {
        "hours": TextSlotList.from_strings(["2", "three"]),
        "minutes": TextSlotList.from_strings(["5", "twenty five"]),
        "seconds": TextSlotList.from_strings(["40", "ninety"]),
        "percent": TextSlotList.from_strings(["30", "seventy"]),
        "name": TextSlotList.from_strings(["pasta", "tea"]),
    }
    slot_lists = {**intents.slot_lists, **small}
    checked: dict[str, int] = {}
    for name, intent in intents.intents.items():
        for data in intent.data:
            for sentence in data.sentences:
                made = sample_sentence(sentence, slot_lists, intents.expansion_rules)
                for text in islice(made, 24):
                    command = matcher.match(text)
                    assert command is not None, f"{text!r} ({name}: {sentence.text}) did not match"
                    assert command.intent.value == name, f"{text!r}: {command.intent} instead of {name}"
                    checked[name] = checked.get(name, 0) + 1
    assert set(checked) == {i.value for i in Intent}
    assert sum(checked.values()) > 300


def test_only_the_enabled_commands_match() -> None:
    matcher = CommandMatcher(enabled=frozenset({"time"}))
    assert matcher.match("what time is it") == Command(Intent.TIME)
    assert matcher.match("set a timer for ten minutes") is None
    assert matcher.intents == {Intent.TIME}


def test_unknown_intents_and_languages_are_refused() -> None:
    with pytest.raises(TemplateError, match="unknown local commands: wash_dishes"):
        CommandMatcher(enabled=frozenset({"wash_dishes"}))
    with pytest.raises(TemplateError, match="unknown local intents"):
        CommandMatcher({"language": "en", "intents": {"wash_dishes": {"data": [{"sentences": ["wash"]}]}}})
    with pytest.raises(TemplateError, match="no local command templates"):
        load_templates("xx")


def test_settings_check_the_language_and_the_commands(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[local]\ncommands = ["time", "stop"]\n')
    assert load(config, env={}).local.commands == ("time", "stop")
    config.write_text('[local]\ncommands = ["timer_start", "dance"]\n')
    with pytest.raises(SettingsError, match="local.commands"):
        load(config, env={})
    config.write_text('[local]\nlanguage = "fr"\n')
    with pytest.raises(SettingsError, match="local.language"):
        load(config, env={})


# --- carrying commands out ---------------------------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TimerService]:
    timers = TimerService(tmp_path / "timers.json", lambda timer, missed: None, Recorder())
    timers.start()
    yield timers
    timers.close()


class VolumeControls(Controls):
    def __init__(self, timers: object) -> None:
        super().__init__(timers=timers)
        self.level = 0.5
        self.resets = 0

    def volume(self) -> float:
        return self.level

    def set_volume(self, value: float) -> float:
        self.level = value
        return value

    def reset_conversation(self) -> None:
        self.resets += 1


def handle(local: LocalCommands, text: str):  # noqa: ANN201
    events: list[Event] = []
    return local.handle(text, CancelToken(), events.append)


def test_timers_are_set_told_and_cancelled(matcher: CommandMatcher, service: TimerService) -> None:
    controls = VolumeControls(service)
    local = LocalCommands(matcher, lambda: controls)
    reply = handle(local, "set a pasta timer for eight minutes")
    assert reply is not None and reply.text == "The pasta timer is set for 8 minutes."
    assert [(t.label, t.seconds) for t in service.running()] == [("pasta", 480)]
    status = handle(local, "how long is left on the pasta timer")
    assert status is not None and status.text.startswith("The pasta timer has ") and status.text.endswith(" left.")
    assert handle(local, "how long left on the tea timer").text == "There is no tea timer running."  # type: ignore[union-attr]
    cancelled = handle(local, "cancel the timer")
    assert cancelled is not None and cancelled.text == "Cancelled the pasta timer." and service.running() == []
    empty = handle(local, "how long left on the timer")
    assert empty is not None and empty.phrase is None and empty.text == "No timers are running."


def test_common_replies_play_from_the_phrase_cache_once_it_has_them(
    matcher: CommandMatcher, service: TimerService
) -> None:
    cached: set[str] = set()
    local = LocalCommands(matcher, lambda: VolumeControls(service), cached=cached.__contains__)
    first = handle(local, "set a timer for ten minutes")
    assert first is not None and first.phrase is None  # not cached yet: synthesized when said
    cached.update(REPLIES)
    again = handle(local, "set a timer for ten minutes")
    assert again is not None and again.phrase == "local_timer_set_600" and REPLIES[again.phrase] == again.text
    named = handle(local, "set a tea timer for ten minutes")
    assert named is not None and named.phrase is None and named.text == "The tea timer is set for 10 minutes."
    assert handle(local, "cancel the tea timer").phrase is None  # type: ignore[union-attr]  # "Cancelled the tea ..."
    assert handle(local, "cancel the timer") is None  # two are running: which one? the model asks
    assert len(service.running()) == 2  # and nothing was cancelled
    assert handle(local, "cancel all timers").phrase is None  # type: ignore[union-attr]  # "Cancelled 2 timers: ..."
    assert handle(local, "cancel the timer").phrase == "local_no_timers"  # type: ignore[union-attr]
    assert handle(local, "louder").phrase is None  # type: ignore[union-attr]  # a sound, not words


def test_every_cached_reply_is_a_plausible_phrase_of_its_own() -> None:
    assert len(set(REPLIES.values())) == len(REPLIES)
    assert all(key.startswith("local_") for key in REPLIES)  # never shadows an offline phrase
    assert REPLIES["local_timer_set_90"] == "The timer is set for 1 minute and 30 seconds."


def test_volume_commands_answer_with_a_sound_at_the_new_level(matcher: CommandMatcher) -> None:
    controls = VolumeControls(None)
    local = LocalCommands(matcher, lambda: controls)
    up = handle(local, "louder")
    assert up is not None and up.sound and controls.level == pytest.approx(0.6)
    assert up.text == "The volume is now 60 percent (it was 50)."  # what the model is told next turn
    handle(local, "volume to 25 percent")
    assert controls.level == pytest.approx(0.25)


def test_the_time_stop_never_mind_and_forget(matcher: CommandMatcher) -> None:
    controls = VolumeControls(None)
    local = LocalCommands(matcher, lambda: controls, now=lambda: datetime(2026, 12, 6, 14, 5))
    assert handle(local, "what time is it").text == "It's 2:05 PM."  # type: ignore[union-attr]
    for text in ("stop", "never mind"):
        reply = handle(local, text)
        assert reply is not None and reply.ends_turn and not reply.remember and reply.text == ""
    forget = handle(local, "forget everything")
    assert forget is not None and controls.resets == 1 and not forget.remember
    assert forget.text == "Okay, I've forgotten our conversation."
    assert handle(local, "what time is the match") is None


# --- one conversation ----------------------------------------------------------------------------------------


def test_a_local_exchange_is_carried_into_the_next_request_once() -> None:
    now = [0.0]
    conversation = Conversation(300.0, lambda: now[0], "missing")
    conversation.remember("Set a timer for ten minutes.", "The timer is set for 10 minutes.")
    start = conversation.begin()
    assert start.carried == [
        {"role": "user", "content": "Set a timer for ten minutes."},
        {"role": "assistant", "content": "The timer is set for 10 minutes."},
    ]
    assert conversation.begin().carried == []  # sent once


def test_local_exchanges_are_capped_and_dropped_by_a_reset() -> None:
    conversation = Conversation(300.0, lambda: 0.0, "missing")
    for n in range(20):
        conversation.remember(f"q{n}", f"a{n}")
    carried = conversation.begin().carried
    assert len(carried) == LOCAL_ITEMS and carried[-1] == {"role": "assistant", "content": "a19"}
    conversation.remember("q", "a")
    conversation.reset()
    assert conversation.begin().carried == []


# --- in the turn -----------------------------------------------------------------------------------------------


class BrokenMatcher(CommandMatcher):
    def __init__(self) -> None:
        pass

    def match(self, text: str) -> Command | None:
        raise RuntimeError("templates gone")


def test_a_local_command_is_answered_in_the_turn_without_the_model(tmp_path: Path, mock_pins: object) -> None:
    from test_app import Harness, question

    h = Harness(tmp_path, question())
    h.app.ports.local = LocalCommands(
        CommandMatcher(), lambda: VolumeControls(None), now=lambda: datetime(2026, 1, 1, 9, 30)
    )
    h.start()
    assert h.finish() == 0
    assert h.assistant.questions == []
    assert [e.text for e in h.events.of(Answer)] == ["It's 9:30 AM."]
    assert [s.text for s in h.events.of(Sentence)] == ["It's 9:30 AM."]
    assert [(e.what, e.detail) for e in h.events.of(Info) if e.what == "local_command"] == [("local_command", "time")]
    assert h.assistant.remembered == [("what time is it", "It's 9:30 AM.")]
    turn = h.events.of(Turn)[0]
    assert turn.outcome == "answered" and "end_of_speech_to_first_audio_ms" in turn.timings


def test_a_fault_in_the_local_commands_sends_the_question_to_the_model(
    tmp_path: Path, mock_pins: object, caplog: pytest.LogCaptureFixture
) -> None:
    from test_app import Harness, question

    h = Harness(tmp_path, question())
    h.app.ports.local = LocalCommands(BrokenMatcher(), lambda: VolumeControls(None))
    h.start()
    assert h.finish() == 0
    assert h.assistant.questions == ["what time is it"]
    assert [e.text for e in h.events.of(Answer)] == ["It is noon."]
    assert "local commands failed; the model takes the question" in caplog.text
