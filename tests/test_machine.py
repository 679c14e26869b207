import pytest

from appliance.core.machine import (
    TRANSITIONS,
    AlertStopped,
    AnnouncementDone,
    Ask,
    CancelTurn,
    DiscardRecording,
    Earcon,
    Emit,
    EndRecording,
    FinishTurn,
    InternalError,
    InvalidTransition,
    MicEnded,
    PlayEarcon,
    Press,
    PressKind,
    Progress,
    RecordingEnded,
    Refuse,
    ResetConversation,
    Say,
    SetMute,
    SetMuted,
    Shutdown,
    Snapshot,
    StartAlert,
    StartAnnouncement,
    StartListening,
    StartTurn,
    State,
    StateMachine,
    Stop,
    StopAlert,
    StopAnnouncement,
    TimerEnded,
    TurnDone,
    TurnProgress,
    WakeWord,
    explore,
    step,
)
from appliance.events import Info, Mute, StateChanged, Stopped, Turn, Wake

# The table as documented, written by hand: the one derived from ``step`` must be exactly this.
ID, LI, TH, SP, MU, AL = State.IDLE, State.LISTENING, State.THINKING, State.SPEAKING, State.MUTED, State.ALERTING
GOLDEN = {
    ID: {LI, TH, MU, AL},  # wake/press, ctl ask, long press, a timer
    LI: {TH, ID, MU, AL},  # endpoint, no speech / press, mute, a timer queued while listening (on press)
    TH: {SP, ID, LI, MU, AL},  # first audio, done / press, barge-in, mute, a queued timer
    SP: {TH, ID, LI, MU, AL},  # a tool round after a filler, done / press, barge-in / follow-up, mute, timer
    MU: {ID, AL},  # unmute, unmute with a timer queued behind the one that rang muted
    AL: {ID, MU},  # press / wake word / the alert ends, long press
}
FORBIDDEN = [(a, b) for a in State for b in State if a != b and b not in GOLDEN[a]]


def test_the_derived_table_is_the_one_documented():
    assert TRANSITIONS == GOLDEN


def test_the_guard_allows_the_happy_path_of_a_turn():
    m = StateMachine()
    for target in (State.LISTENING, State.THINKING, State.SPEAKING, State.IDLE):
        m.go(target)
    assert m.state == State.IDLE


@pytest.mark.parametrize("source,target", FORBIDDEN, ids=[f"{a.value}-{b.value}" for a, b in FORBIDDEN])
def test_the_guard_refuses_what_the_documented_table_does_not_allow(source, target):
    m = StateMachine(source)
    assert not m.can(target)
    with pytest.raises(InvalidTransition):
        m.go(target)
    assert m.state == source


def test_every_state_change_is_announced_with_the_state_it_left():
    for (a, b), events in explore().items():
        s = Snapshot()
        for event in events[:-1]:
            s, _ = step(s, event)
        _, fx = step(s, events[-1])
        changes = [e.event for e in fx if isinstance(e, Emit) and isinstance(e.event, StateChanged)]
        assert changes and changes[-1].state == b.value, (a, b, events)
        assert changes[0].previous == a.value, (a, b, events)


# --- step(): event sequences in, states and effects out ---------------------------------------------------


SHORT, LONG = Press(PressKind.SHORT), Press(PressKind.LONG)


def run(*events, start=None):
    """Feed events from ``start``; return the final snapshot, the states passed through and all effects."""
    s = start or Snapshot()
    states, effects = [s.state.value], []
    for event in events:
        s, fx = step(s, event)
        effects.extend(fx)
        if s.state.value != states[-1]:
            states.append(s.state.value)
    return s, states, effects


def kinds(effects):
    return [type(e).__name__ if not isinstance(e, Emit) else type(e.event).__name__ for e in effects]


def test_a_spoken_turn_from_the_wake_word():
    s, states, fx = run(
        WakeWord("hey_jarvis", 0.97), RecordingEnded(True), TurnProgress(1, Progress.SPEAKING), TurnDone(1, "answered")
    )
    assert states == ["idle", "listening", "thinking", "speaking", "idle"]
    assert fx[:4] == [
        Emit(Wake("wake_word", "hey_jarvis", 0.97)),
        Emit(StateChanged("listening", "idle", "wake_word")),
        StartListening(preroll=True),
        PlayEarcon(Earcon.CHIME),
    ]
    assert StartTurn(1, None) in fx and FinishTurn(1, "answered") in fx
    assert fx[-1] == Emit(StateChanged("idle", "speaking", "answered"))
    assert s.turn == 0 and s.turns == 1


def test_a_tool_round_after_a_spoken_filler_shows_thinking_again():
    _, states, fx = run(
        Ask("weather?"),
        TurnProgress(1, Progress.SPEAKING),
        TurnProgress(1, Progress.THINKING),
        TurnProgress(1, Progress.SPEAKING),
        TurnDone(1, "answered"),
    )
    assert states == ["idle", "thinking", "speaking", "thinking", "speaking", "idle"]
    assert Emit(StateChanged("thinking", "speaking", "tool_round")) in fx


def test_listening_never_goes_straight_to_speaking_and_the_drift_is_gone():
    s = Snapshot(state=State.LISTENING)
    for what in Progress:
        assert step(s, TurnProgress(0, what)) == (s, ())


def test_a_short_press_stops_a_turn_and_a_recording():
    _, states, fx = run(Ask("x"), SHORT)
    assert states == ["idle", "thinking", "idle"]
    assert CancelTurn(1, "button") in fx
    _, states, fx = run(Press(PressKind.SHORT, "ctl"), Press(PressKind.SHORT, "ctl"))
    assert states == ["idle", "listening", "idle"]
    assert fx[-2:] == [Emit(StateChanged("idle", "listening", "stop")), DiscardRecording(report=True)]


def test_late_news_of_a_cancelled_turn_is_ignored():
    s, states, fx = run(Ask("x"), SHORT, TurnProgress(1, Progress.SPEAKING), TurnDone(1, "cancelled"))
    assert states == ["idle", "thinking", "idle"]
    assert not any(isinstance(e, FinishTurn) for e in fx)


def test_barge_in_cancels_the_turn_and_listens_with_preroll():
    s, states, fx = run(Ask("x"), TurnProgress(1, Progress.SPEAKING), WakeWord("w", 0.9))
    assert states == ["idle", "thinking", "speaking", "listening"]
    assert fx[-4:] == [
        CancelTurn(1, "barge_in"),
        Emit(StateChanged("listening", "speaking", "wake_word")),
        StartListening(preroll=True),
        PlayEarcon(Earcon.CHIME),
    ]


def test_no_speech_reports_an_empty_turn_and_rests():
    s, states, fx = run(SHORT, RecordingEnded(False))
    assert states == ["idle", "listening", "idle"]
    assert Emit(Turn(1, "no_speech")) in fx and s.turns == 1


def test_follow_up_listens_without_chime_or_preroll():
    s, states, fx = run(Ask("x"), TurnDone(1, "answered", follow_up=True))
    assert states == ["idle", "thinking", "listening"]
    assert fx[-3:] == [
        Emit(Info("follow_up")),
        Emit(StateChanged("listening", "thinking", "follow_up")),
        StartListening(preroll=False, follow_up=True),
    ]
    _, states, _ = run(Ask("x"), TurnDone(1, "error", follow_up=True))
    assert states[-1] == "idle"


def test_a_confirmation_question_is_answered_in_the_listen_right_after_it_and_only_there():
    # the answer asked to confirm a call: listened for without the wake word, even with follow-ups off
    s, states, fx = run(Ask("unlock"), TurnDone(1, "answered", follow_up=False, confirm=True))
    assert states == ["idle", "thinking", "listening"] and s.confirming
    assert fx[-1] == StartListening(preroll=False, follow_up=True)
    s, fx = step(s, RecordingEnded(True))
    assert StartTurn(2, None, confirming=True) in fx and not s.confirming
    # silence in that listen: nothing is confirmed, and the next listen (wake word) is a new question
    s, _, _ = run(Ask("unlock"), TurnDone(1, "answered", confirm=True), RecordingEnded(False))
    assert s.state == State.IDLE
    s, fx = step(s, WakeWord("w", 0.9))
    assert not s.confirming
    s, fx = step(s, RecordingEnded(True))
    assert StartTurn(3, None, confirming=False) in fx  # turn 2 was the empty one
    # a press while the question is spoken cancels the turn: its late TurnDone opens no listen
    s, states, fx = run(Ask("unlock"), TurnProgress(1, Progress.SPEAKING), SHORT, TurnDone(1, "answered", confirm=True))
    assert states == ["idle", "thinking", "speaking", "idle"] and not s.confirming
    assert not any(isinstance(e, StartListening) for e in fx)
    # a typed question after an unanswered one is not an answer either
    s, _, _ = run(Ask("unlock"), TurnDone(1, "answered", confirm=True), RecordingEnded(False), Ask("yes"))
    assert s.turn == 3 and not s.confirming
    # a failed turn asks nothing
    _, states, _ = run(Ask("unlock"), TurnDone(1, "error", confirm=True))
    assert states[-1] == "idle"


def test_mute_cancels_resets_the_conversation_and_ignores_the_microphone():
    s, states, fx = run(Ask("x"), LONG)
    assert states == ["idle", "thinking", "muted"]
    assert kinds(fx)[-6:] == ["CancelTurn", "StateChanged", "ResetConversation", "Mute", "SetMute", "PlayEarcon"]
    assert step(s, WakeWord("w", 1.0)) == (s, ())
    s2, fx = step(s, SHORT)
    assert s2 == s and fx[-1] == Emit(Info("muted", "the microphone is muted: hold the button to unmute"))
    s3, fx = step(s, SetMuted(False))
    assert s3.state == State.IDLE and fx[-3:] == (Emit(Mute(False)), SetMute(False), PlayEarcon(Earcon.MUTE_OFF))
    assert step(s, SetMuted(True)) == (s, ())  # already muted: nothing


def test_ask_is_refused_while_busy():
    s, _, _ = run(Ask("x"))
    assert step(s, Ask("y")) == (s, (Refuse("busy (thinking)"),))


def test_the_input_ending_while_listening_ends_the_recording_and_nothing_starts_after_it():
    s, _, fx = run(SHORT, MicEnded())
    assert fx[-1] == EndRecording("input_ended") and s.mic_ended
    s, states, _ = run(Ask("x"), MicEnded(), TurnDone(1, "answered", follow_up=True))
    assert states[-1] == "idle"  # no follow-up when the input is over
    s, fx = step(s, SHORT)
    assert s.state == State.IDLE and kinds(fx) == ["Button"]


def test_shutdown_stops_everything_then_says_stopped_and_ignores_what_follows():
    s, _, fx = run(Ask("x"), Shutdown("SIGTERM"))
    assert fx[-3:] == [CancelTurn(1, "shutdown"), Stop("SIGTERM"), Emit(Stopped("SIGTERM"))]
    assert step(s, SHORT) == (s, ())


def test_internal_error_puts_the_appliance_at_rest():
    _, states, fx = run(Ask("x"), InternalError())
    assert states[-1] == "idle" and CancelTurn(1, "error") in fx
    _, states, _ = run(LONG, InternalError())
    assert states[-1] == "muted"


# --- announcements ------------------------------------------------------------------------------------


def test_say_plays_in_idle_and_a_second_say_is_refused_until_it_is_done():
    s, fx = step(Snapshot(), Say("dinner"))
    assert fx == (StartAnnouncement(1, "dinner"),) and s.state == State.IDLE
    assert step(s, Say("again")) == (s, (Refuse("busy (announcing)"),))
    s, _ = step(s, AnnouncementDone(1))
    assert step(s, Say("again"))[1] == (StartAnnouncement(2, "again"),)


def test_say_never_overlaps_a_turn():
    s, _, _ = run(Ask("x"))
    assert step(s, Say("hi")) == (s, (Refuse("busy (thinking)"),))


@pytest.mark.parametrize(
    "event,reason",
    [
        (SHORT, "button"),
        (LONG, "mute"),
        (SetMuted(True), "mute"),
        (WakeWord("w", 0.9), "barge_in"),
        (Ask("q"), "turn"),
        (Shutdown(), "shutdown"),
    ],
)
def test_the_button_mute_a_new_turn_and_shutdown_stop_an_announcement(event, reason):
    s, _ = step(Snapshot(), Say("a long story"))
    n, fx = step(s, event)
    assert StopAnnouncement(1, reason) in fx and n.announcing == 0
    assert n.state != State.LISTENING or event == WakeWord("w", 0.9)  # the press only stops it


def test_a_stale_announcement_done_is_ignored():
    s, _, _ = run(Say("a"), SHORT, Say("b"))
    assert s.announcing == 2 and step(s, AnnouncementDone(1)) == (s, ())


# --- timers ------------------------------------------------------------------------------------------


def test_a_timer_rings_in_idle_and_a_press_or_the_wake_word_stops_it():
    s, states, fx = run(TimerEnded("tea"))
    assert states == ["idle", "alerting"] and fx[0] == StartAlert("tea", False)
    n, fx = step(s, SHORT)
    assert n.state == State.IDLE and StopAlert("button") in fx
    n, fx = step(s, WakeWord("w", 0.9))
    assert n.state == State.IDLE and StopAlert("wake_word") in fx
    n, fx = step(s, AlertStopped("timeout"))
    assert n.state == State.IDLE and not any(isinstance(e, StopAlert) for e in fx)


def test_a_timer_ending_during_a_turn_rings_when_the_turn_is_done():
    s, states, fx = run(
        WakeWord("w", 0.9),
        TimerEnded("eggs", missed=False),
        RecordingEnded(True),
        TurnDone(1, "answered", follow_up=True),
    )
    assert states == ["idle", "listening", "thinking", "alerting"]  # instead of the follow-up
    assert fx[-1] == Emit(StateChanged("alerting", "thinking", "timer")) and StartAlert("eggs", False) in fx


def test_a_timer_rings_while_muted_and_the_microphone_stays_off():
    s, states, fx = run(LONG, TimerEnded("pasta", missed=True))
    assert states == ["idle", "muted"] and fx[-1] == StartAlert("pasta", True)
    assert s.alert is not None and step(s, WakeWord("w", 0.9)) == (s, ())
    n, fx = step(s, SHORT)  # a press stops it, still muted
    assert n.state == State.MUTED and n.alert is None and StopAlert("button") in fx
    n, fx = step(s, LONG)  # unmuting acknowledges it
    assert n.state == State.IDLE and StopAlert("unmute") in fx


def test_timers_queue_behind_a_ringing_one_and_questions_are_refused_while_alerting():
    s, states, _ = run(TimerEnded("a"), TimerEnded("b"))
    assert states == ["idle", "alerting"] and len(s.pending) == 1
    assert step(s, Ask("x"))[1] == (Refuse("busy (alerting)"),)
    assert step(s, Say("x"))[1] == (Refuse("busy (alerting)"),)
    n, fx = step(s, SHORT)
    assert n.state == State.ALERTING and fx[-1] == StartAlert("b", False)
    n, _ = step(n, SHORT)
    assert n.state == State.IDLE


def test_a_long_press_while_alerting_stops_it_and_mutes():
    s, _, _ = run(TimerEnded("a"))
    n, fx = step(s, LONG)
    assert n.state == State.MUTED and kinds(fx)[:2] == ["Button", "StopAlert"] and ResetConversation() in fx
    n, fx = step(s, SetMuted(True))  # muting by command keeps it ringing
    assert n.state == State.MUTED and n.alert is not None and not any(isinstance(e, StopAlert) for e in fx)
