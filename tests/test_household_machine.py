"""The state machine with a household (issue #30): a wake word heard in idle waits for the household's
decision (nothing chimes, nothing records, still idle); a press is never arbitrated; a conversation keeps its
device; a timer rings where it was set."""

from __future__ import annotations

from appliance.core import machine as m
from appliance.events import Arbitration, Wake

HOME = m.Snapshot(household=True)


def run(s: m.Snapshot, *events: m.MachineEvent) -> tuple[m.Snapshot, list[m.Effect]]:
    effects: list[m.Effect] = []
    for event in events:
        s, fx = m.step(s, event)
        effects += fx
    return s, effects


def kinds(effects: list[m.Effect]) -> list[type]:
    return [type(e) for e in effects]


def test_a_wake_word_waits_for_the_household_and_the_winner_listens_with_its_preroll():
    s, fx = run(HOME, m.WakeWord("hey_jarvis", 0.9))
    assert s.state == m.State.IDLE and s.arbitrating
    assert kinds(fx) == [m.Emit, m.ClaimWake] and isinstance(fx[0], m.Emit) and isinstance(fx[0].event, Wake)
    assert fx[1] == m.ClaimWake(0.9)
    s, fx = run(s, m.WakeWord("hey_jarvis", 0.95))  # the same wake word again while it is decided
    assert fx == [] and s.arbitrating
    s, fx = run(s, m.Arbitrated(True, "kitchen", "best", 2, 3.5, 121.0))
    assert s.state == m.State.LISTENING and not s.arbitrating
    assert m.StartListening(preroll=True) in fx and m.PlayEarcon(m.Earcon.CHIME) in fx
    events = [e.event for e in fx if isinstance(e, m.Emit)]
    assert Arbitration(True, "best", "kitchen", 2, 3.5, 121.0) in events


def test_the_loser_goes_back_to_idle_having_done_nothing():
    s, fx = run(HOME, m.WakeWord("hey_jarvis", 0.9), m.Arbitrated(False, "hall", "beaten", 1, -3.0, 40.0))
    assert s.state == m.State.IDLE and not s.arbitrating
    assert not any(isinstance(e, (m.StartListening, m.PlayEarcon, m.StartTurn)) for e in fx)
    assert [e.event.state for e in fx if isinstance(e, m.Emit) and hasattr(e.event, "state")] == []


def test_a_press_is_never_arbitrated_and_a_late_decision_changes_nothing():
    s, fx = run(HOME, m.WakeWord("hey_jarvis", 0.9), m.Press())
    assert s.state == m.State.LISTENING and not s.arbitrating and m.PlayEarcon(m.Earcon.CHIME) in fx
    s2, fx = run(s, m.Arbitrated(True, "kitchen", "best"))
    assert s2 == s and fx == []
    s, fx = run(HOME, m.Press())  # without a wake word: no claim at all
    assert s.state == m.State.LISTENING and not any(isinstance(e, m.ClaimWake) for e in fx)


def test_a_conversation_keeps_its_device_and_tells_the_others():
    s, _ = run(HOME, m.Ask("what time is it"), m.TurnProgress(1, m.Progress.SPEAKING))
    assert s.state == m.State.SPEAKING
    s, fx = run(s, m.WakeWord("hey_jarvis", 0.8))  # barge-in: this device listens at once, no arbitration
    assert s.state == m.State.LISTENING and m.KeepWake(0.8) in fx and not any(isinstance(e, m.ClaimWake) for e in fx)
    # a follow-up listens without the wake word: nothing to arbitrate
    s, fx = run(s, m.RecordingEnded(True), m.TurnDone(2, "answered", follow_up=True))
    assert s.state == m.State.LISTENING and not any(isinstance(e, (m.ClaimWake, m.KeepWake)) for e in fx)


def test_a_timer_rings_where_it_was_set_even_mid_arbitration():
    s, fx = run(HOME, m.WakeWord("hey_jarvis", 0.9), m.TimerEnded("tea"))
    assert s.state == m.State.ALERTING and not s.arbitrating
    s, fx = run(s, m.Arbitrated(True, "kitchen", "best"))
    assert s.state == m.State.ALERTING and fx == []
    s, fx = run(HOME, m.TimerEnded("tea"), m.WakeWord("hey_jarvis", 0.9))  # the wake word stops the local alert
    assert s.state == m.State.IDLE and not any(isinstance(e, m.ClaimWake) for e in fx)


def test_without_a_household_the_wake_word_listens_at_once_and_the_table_is_the_same():
    s, fx = run(m.Snapshot(), m.WakeWord("hey_jarvis", 0.9))
    assert s.state == m.State.LISTENING and not any(isinstance(e, m.ClaimWake) for e in fx)
    household_pairs = set(m.explore(HOME))
    assert household_pairs <= {(a, b) for a, targets in m.transitions().items() for b in targets}
    assert household_pairs == set(m.explore())
