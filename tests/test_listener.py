"""The listener on arrays of samples: pre-roll, the end-of-turn policy, utterances in audio time."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config.settings import EndpointSettings
from appliance.listening.listener import Listener, SilencePolicy, Utterance
from appliance.listening.segmenter import Outcome
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS

LOUD = np.full(FRAME_SAMPLES, 8000, dtype=np.int16)
QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int16)


class EnergyVad:
    def __init__(self) -> None:
        self.resets = 0

    def speech_probability(self, frame: np.ndarray) -> float:
        return 1.0 if np.abs(frame).max() > 1000 else 0.0

    def reset(self) -> None:
        self.resets += 1


def listener(preroll: float = 0.24, **endpoint) -> Listener:
    settings = EndpointSettings(trailing_silence=0.4, **endpoint)
    return Listener(EnergyVad(), SilencePolicy(settings), preroll)


def feed(lst: Listener, frames: list[np.ndarray]) -> Utterance | None:
    for frame in frames:
        result = lst.process(frame)
        if result is not None:
            return result
    return None


def test_an_utterance_keeps_the_preroll_and_ends_after_the_trailing_silence():
    lst = listener()
    assert feed(lst, [QUIET] * 10) is None
    lst.start(preroll=True, start_timeout=5.0)
    assert lst.vad.resets == 1
    u = feed(lst, [LOUD] * 10 + [QUIET] * 10)
    assert u is not None and u.speech and u.reason == Outcome.SPEECH_ENDED.value
    assert u.start == pytest.approx(10 * FRAME_SECONDS - 3 * FRAME_SECONDS)  # 3 frames of pre-roll
    assert u.end == pytest.approx(u.start + u.seconds)
    assert u.seconds == pytest.approx((3 + 10 + 5) * FRAME_SECONDS)  # 0.4 s of silence = 5 frames
    assert not lst.recording


def test_no_speech_before_the_start_timeout():
    lst = listener()
    lst.start(preroll=False, start_timeout=0.8)
    u = feed(lst, [QUIET] * 20)
    assert u is not None and not u.speech and u.reason == "no_speech" and u.start == 0.0


def test_the_input_ending_mid_question_still_counts_as_speech_and_discard_reports_the_span():
    lst = listener()
    lst.start(preroll=False, start_timeout=5.0)
    feed(lst, [LOUD] * 5)
    u = lst.finish("input_ended")
    assert u.speech and u.reason == "input_ended" and u.seconds == pytest.approx(5 * FRAME_SECONDS)
    lst.start(preroll=False, start_timeout=5.0)
    feed(lst, [LOUD] * 2)
    start, end = lst.discard()
    assert end - start == pytest.approx(2 * FRAME_SECONDS) and not lst.recording


def test_frames_not_kept_do_not_reach_the_preroll_but_advance_audio_time():
    lst = listener()
    for _ in range(5):
        lst.process(LOUD, keep=False)
    lst.start(preroll=True, start_timeout=5.0)
    assert lst.now == pytest.approx(5 * FRAME_SECONDS)
    u = lst.finish("input_ended")
    assert u.seconds == 0 and not u.speech


class FixedPolicy:
    """A stand-in end-of-turn policy (a turn-detection model would sit here): ends after n frames."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: list[float] = []

    def begin(self, start_timeout: float) -> None:
        self.seen = []

    def process(self, frame: np.ndarray, probability: float, seconds: float, tail: float | None = None) -> Outcome:
        self.seen.append(probability)
        return Outcome.SPEECH_ENDED if len(self.seen) >= self.n else Outcome.CONTINUE

    @property
    def started(self) -> bool:
        return bool(self.seen)

    @property
    def last(self) -> None:
        return None


def test_the_end_of_turn_policy_is_a_collaborator():
    policy = FixedPolicy(3)
    lst = Listener(EnergyVad(), policy, 0.0)
    lst.start(preroll=True, start_timeout=5.0)
    u = feed(lst, [LOUD, QUIET, LOUD, LOUD])
    assert u is not None and u.seconds == pytest.approx(3 * FRAME_SECONDS) and policy.seen == [1.0, 0.0, 1.0]
