import pytest

from appliance.machine import TRANSITIONS, InvalidTransition, State, StateMachine


def test_every_state_has_a_row_and_targets_are_states():
    assert set(TRANSITIONS) == set(State)
    for targets in TRANSITIONS.values():
        assert targets <= set(State)


def test_the_happy_path_of_a_turn_is_allowed():
    m = StateMachine()
    for target in (State.LISTENING, State.THINKING, State.SPEAKING, State.IDLE):
        m.go(target)
    assert m.state == State.IDLE


@pytest.mark.parametrize("source,target", [
    (State.IDLE, State.SPEAKING),
    (State.MUTED, State.LISTENING),
    (State.MUTED, State.SPEAKING),
])
def test_invalid_transitions_raise(source, target):
    m = StateMachine(source)
    with pytest.raises(InvalidTransition):
        m.go(target)
    assert m.state == source


def test_every_state_can_be_muted_and_muted_only_unmutes_to_idle():
    for state in State:
        if state != State.MUTED:
            assert StateMachine(state).can(State.MUTED)
    assert TRANSITIONS[State.MUTED] == frozenset({State.IDLE})


def test_every_state_can_reach_idle():
    for state in State:
        if state != State.IDLE:
            assert State.IDLE in TRANSITIONS[state]
