"""The end-of-turn policy in audio time: patterns of VAD frames, the model's verdict handed in when asked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.listening.endpoint.policy import Action, EndReason, TurnPolicy

STEP = 0.08


def run(
    policy: TurnPolicy,
    pattern: str,
    model: Callable[[float], float | None],
    text: Callable[[float], bool | None] = lambda t: None,
) -> list[tuple[float, Action]]:
    """pattern: 'S' speech, 's' speech whose last VAD window is silent, '.' silence, one 80 ms frame each.
    ``model(t)`` gives the probability when asked at audio time t (None: no answer); ``text(t)`` whether the
    transcript reads unfinished (None: it never comes). Returns the non-CONTINUE actions with their times;
    stops at END."""
    seen: list[tuple[float, Action]] = []
    for i, c in enumerate(pattern):
        t = round((i + 1) * STEP, 3)
        action = policy.process(c in "Ss", STEP, tail_silent=c == "s")
        asked, wants_text = policy.pause_id, action in (Action.TEXT, Action.ASK_TEXT)
        if action is not Action.CONTINUE and action is not Action.END:
            seen.append((t, action))
        if action in (Action.ASK, Action.ASK_TEXT):
            p = model(t)
            action = Action.CONTINUE if p is None else policy.verdict(p)
        unfinished = text(t) if wants_text else None
        if unfinished is not None and action is not Action.END:  # the transcript comes after the verdict
            action = policy.text(unfinished, asked)
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
    p = TurnPolicy(short_pause=0.2, long_pause=1.5, reask_pause=None)
    seen = run(p, "SSSSSSSSSS" + "." * 30, lambda t: 0.1)
    assert [a for _, a in seen] == [Action.ASK, Action.END]
    assert p.result is not None and p.result.reason is EndReason.PAUSE
    assert p.result.wait == pytest.approx(1.52)  # 19 frames: the first frame at or past 1.5 s
    assert p.result.probability == 0.1


def test_a_thinking_pause_is_not_cut_and_the_model_is_asked_again_after_it():
    p = TurnPolicy(short_pause=0.2, long_pause=1.5, reask_pause=None)
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
    p = TurnPolicy(short_pause=0.2, long_pause=1.5, min_speech_seconds=0.15, reask_pause=None)
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


def test_when_the_model_says_incomplete_it_is_asked_once_more_later_in_the_pause():
    p = TurnPolicy(short_pause=0.08, long_pause=2.0, reask_pause=0.48)
    answers = iter([0.2, 0.9])
    seen = run(p, "S" * 10 + "." * 30, lambda t: next(answers))
    assert seen == [(0.88, Action.ASK), (1.28, Action.ASK), (1.28, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE and p.result.probability == 0.9

    p = TurnPolicy(short_pause=0.08, long_pause=2.0, reask_pause=0.48)
    seen = run(p, "S" * 10 + "." * 30, lambda t: 0.2)
    assert [a for _, a in seen] == [Action.ASK, Action.ASK, Action.END]  # twice, then the long pause
    assert p.result is not None and p.result.reason is EndReason.PAUSE


def test_a_speculative_question_on_a_silent_tail_ends_the_turn_at_the_first_silent_frame():
    """The model is asked on the last speech frame (its tail already silent); the first silent frame then ends
    the turn without waiting for the model again."""
    p = TurnPolicy(short_pause=0.08)
    seen = run(p, "S" * 9 + "s" + "." * 10, lambda t: 0.9)
    assert seen == [(0.8, Action.ASK), (0.88, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE
    assert p.result.wait == pytest.approx(0.08)


def test_a_speculative_verdict_is_stale_once_the_user_goes_on():
    p = TurnPolicy(short_pause=0.08, speculative_interval=0.32)
    answers = iter([0.95, 0.1])  # "complete" at a gap between words, then "not yet" at the real pause
    seen = run(p, "SSSs" + "SSSS" + ".", lambda t: next(answers))
    assert seen == [(0.32, Action.ASK), (0.72, Action.ASK)]  # the complete verdict did not end it
    assert p.result is None


def test_speculative_questions_are_spaced_out():
    p = TurnPolicy(speculative_interval=0.32)
    seen = run(p, "SSsSsSsSsSsS", lambda t: 0.1)
    assert [t for t, _ in seen] == [0.24, 0.56, 0.88]


def test_a_transcript_that_stops_on_a_dangling_word_holds_the_turn_until_the_user_goes_on():
    p = TurnPolicy(short_pause=0.08, long_pause=2.0, hold_for_text=True)
    unfinished = iter([True, False])
    seen = run(p, "S" * 10 + "." * 15 + "S" * 6 + "." * 5, lambda t: 0.9, lambda t: next(unfinished))
    assert seen == [(0.88, Action.ASK_TEXT), (2.56, Action.ASK_TEXT), (2.56, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE and p.result.held
    assert p.result.speech_end == pytest.approx(2.48)


def test_the_transcript_is_asked_for_with_the_speculative_question_and_may_come_later():
    """Asked on the last speech frame with the model; the turn ends when the transcript arrives, not before."""
    p = TurnPolicy(short_pause=0.08, hold_for_text=True)
    assert [p.process(True, STEP) for _ in range(5)][-1] is Action.CONTINUE
    assert p.process(True, STEP, tail_silent=True) is Action.ASK_TEXT
    asked = p.pause_id
    assert p.verdict(0.9, asked) is Action.CONTINUE  # no pause yet
    assert p.process(False, STEP) is Action.CONTINUE  # a pause and a "complete" verdict, but no transcript
    assert p.process(False, STEP) is Action.CONTINUE
    assert p.text(False, asked) is Action.END
    assert p.result is not None and p.result.wait == pytest.approx(0.16) and not p.result.held


def test_a_held_pause_still_ends_at_the_long_pause():
    p = TurnPolicy(short_pause=0.08, long_pause=1.0, hold_for_text=True)
    seen = run(p, "S" * 5 + "." * 20, lambda t: 0.9, lambda t: True)
    assert seen[-1] == (1.44, Action.END)
    assert p.result is not None and p.result.reason is EndReason.PAUSE and p.result.held


def test_without_a_transcript_in_time_the_model_decides_alone():
    p = TurnPolicy(short_pause=0.08, hold_for_text=True, text_wait=0.32)
    seen = run(p, "S" * 5 + "." * 20, lambda t: 0.9, lambda t: None)
    assert seen == [(0.48, Action.ASK_TEXT), (0.8, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE and not p.result.held


def test_a_late_transcript_for_older_speech_is_ignored():
    p = TurnPolicy(short_pause=0.08, hold_for_text=True)
    run(p, "SSSSS.", lambda t: 0.1)
    asked = p.pause_id
    run(p, "SSSS", lambda t: 0.1)
    assert p.text(False, asked) is Action.CONTINUE and p.result is None


def test_early_text_asks_for_the_transcript_with_the_model_but_does_not_wait_for_it():
    p = TurnPolicy(short_pause=0.08, early_text=True)
    seen = run(p, "S" * 5 + "." * 5, lambda t: 0.9, lambda t: None)
    assert seen == [(0.48, Action.ASK_TEXT), (0.48, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE and not p.result.held


def test_a_speculative_not_finished_can_be_asked_again_once_some_silence_follows():
    p = TurnPolicy(short_pause=0.08, confirm_pause=0.24)
    answers = iter([0.2, 0.9])
    seen = run(p, "S" * 9 + "s" + "." * 10, lambda t: next(answers))
    assert seen == [(0.8, Action.ASK), (1.04, Action.ASK), (1.04, Action.END)]
    assert p.result is not None and p.result.reason is EndReason.COMPLETE
