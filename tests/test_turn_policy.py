"""The end-of-turn policy in audio time: patterns of VAD frames, the model's verdict handed in when asked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.endpoint.policy import Action, EndReason, TurnPolicy

STEP = 0.08


def run(policy: TurnPolicy, pattern: str, model: Callable[[float], float | None]) -> list[tuple[float, Action]]:
    """pattern: 'S' speech, '.' silence, one 80 ms frame each. ``model(t)`` gives the probability when asked at
    audio time t (None: no answer). Returns the non-CONTINUE actions with their times; stops at END."""
    seen: list[tuple[float, Action]] = []
    for i, c in enumerate(pattern):
        t = round((i + 1) * STEP, 3)
        action = policy.process(c == "S", STEP)
        if action is Action.ASK:
            seen.append((t, action))
            p = model(t)
            if p is not None:
                action = policy.verdict(p)
        if action is Action.END:
            seen.append((t, action))
            break
    return seen


def test_a_complete_utterance_ends_at_the_short_pause():
    p = TurnPolicy(short_pause=0.2, long_pause=1.5)
    seen = run(p, "..SSSSSSSSSS" + "." * 30, lambda t: 0.9)
    assert seen == [(1.2, Action.ASK), (1.2, Action.END)]  # 3 frames (240 ms) after speech ended at 0.96
    assert p.result is not None
    assert p.result.reason is EndReason.COMPLETE
    assert p.result.wait == pytest.approx(0.24)
    assert p.result.probability == 0.9
    assert p.result.speech_start == pytest.approx(0.16) and p.result.speech_end == pytest.approx(0.96)


def test_an_incomplete_utterance_waits_for_the_long_pause():
    p = TurnPolicy(short_pause=0.2, long_pause=1.5)
    seen = run(p, "SSSSSSSSSS" + "." * 30, lambda t: 0.1)
    assert [a for _, a in seen] == [Action.ASK, Action.END]
    assert p.result is not None and p.result.reason is EndReason.PAUSE
    assert p.result.wait == pytest.approx(1.52)  # 19 frames: the first frame at or past 1.5 s
    assert p.result.probability == 0.1


def test_a_thinking_pause_is_not_cut_and_the_model_is_asked_again_after_it():
    p = TurnPolicy(short_pause=0.2, long_pause=1.5)
    answers = iter([0.05, 0.95])
    seen = run(p, "S" * 10 + "." * 16 + "S" * 8 + "." * 10, lambda t: next(answers))
    assert [a for _, a in seen] == [Action.ASK, Action.ASK, Action.END]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE
    assert p.result.speech_end == pytest.approx((10 + 16 + 8) * STEP)


def test_no_verdict_means_the_long_pause_decides():
    p = TurnPolicy(short_pause=0.2, long_pause=1.0)
    seen = run(p, "S" * 5 + "." * 20, lambda t: None)
    assert [a for _, a in seen] == [Action.ASK, Action.END]
    assert p.result is not None and p.result.reason is EndReason.PAUSE and p.result.probability is None


def test_a_late_verdict_ends_the_turn_when_it_arrives():
    p = TurnPolicy(short_pause=0.2)
    for c in "SSSSS...":
        assert p.process(c == "S", STEP) in (Action.CONTINUE, Action.ASK)
    asked = p.pause_id
    p.process(False, STEP)
    assert p.verdict(0.8, asked) is Action.END
    assert p.result is not None and p.result.wait == pytest.approx(0.32)


def test_a_stale_verdict_is_ignored_when_the_user_spoke_again():
    p = TurnPolicy(short_pause=0.2, min_speech_seconds=0.15)
    actions = [p.process(c == "S", STEP) for c in "SSSSS..."]
    assert actions[-1] is Action.ASK
    asked = p.pause_id
    for _ in range(3):
        p.process(True, STEP)  # the user goes on before the model answered
    assert p.verdict(0.99, asked) is Action.CONTINUE
    assert p.result is None


def test_noise_blips_in_a_pause_neither_end_nor_restart_it():
    """A knock or a burst of noise the VAD calls speech (shorter than min_speech_seconds) is part of the pause:
    it does not count as the user going on, and the model said incomplete, so only the long pause ends it."""
    p = TurnPolicy(short_pause=0.2, long_pause=1.5, min_speech_seconds=0.15)
    seen = run(p, "S" * 10 + "...S....S.....S......" + "." * 10, lambda t: 0.2)
    assert [a for _, a in seen] == [Action.ASK, Action.END]
    assert p.result is not None and p.result.reason is EndReason.PAUSE
    assert p.result.speech_end == pytest.approx(0.8)
    assert p.result.wait == pytest.approx(1.52)


def test_start_timeout_and_hard_cap_stay():
    p = TurnPolicy(start_timeout=1.0)
    assert run(p, "." * 20, lambda t: 0.9) == [(1.04, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.NO_SPEECH and p.result.wait == 0.0

    p = TurnPolicy(max_seconds=2.0)
    seen = run(p, "S" * 40, lambda t: 0.9)
    assert seen == [(2.0, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.MAX_LENGTH

    p = TurnPolicy(start_timeout=0.5, min_speech_seconds=0.15)
    assert run(p, "S.S.S.S." * 3, lambda t: 0.9)[-1][1] is Action.END
    assert p.result is not None and p.result.reason is EndReason.NO_SPEECH  # blips never start a question


def test_after_the_end_everything_says_end_and_reset_starts_over():
    p = TurnPolicy()
    run(p, "SSSS...", lambda t: 0.9)
    assert p.process(True, STEP) is Action.END and p.verdict(0.1) is Action.END
    p.reset()
    assert p.result is None and p.process(True, STEP) is Action.CONTINUE


def test_bad_pauses_are_refused():
    with pytest.raises(ValueError):
        TurnPolicy(short_pause=2.0, long_pause=1.0)
