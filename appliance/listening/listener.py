"""Listening: the microphone's frames in, a finished question (an :class:`Utterance`) out, in audio time.

The listener keeps a pre-roll of the frames before a trigger, and while recording asks two collaborators
what each frame means: a source of speech probability (the VAD port) and an end-of-turn policy (the
trailing-silence segmenter today; a turn-detection model can take its place, as an audio front end can
sit in front of the VAD, without touching the app). Times are seconds of microphone audio, not the wall
clock, so the listener is tested with arrays of samples and no pacing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from appliance.config.settings import EndpointSettings
from appliance.events import EndOfTurn
from appliance.listening.endpoint.policy import EndOfTurn as Judged
from appliance.listening.preroll import Preroll
from appliance.listening.segmenter import Outcome, Segmenter
from appliance.ports import FRAME_SECONDS, SAMPLE_RATE, TailVoiceActivity, VoiceActivity


@dataclass(frozen=True)
class Utterance:
    """A finished recording: the audio handed to transcription and where it lies in the microphone's time."""

    audio: np.ndarray = field(compare=False, repr=False)
    start: float  # seconds of microphone audio at its first sample
    end: float
    reason: str  # "speech_ended", "max_length", "no_speech", "input_ended"
    speech: bool  # False: nothing worth sending was said

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class EndOfTurnPolicy(Protocol):
    """Decides, frame by frame, when the question is over (and whether it began at all)."""

    def begin(self, start_timeout: float) -> None:
        """A new recording starts; give up after ``start_timeout`` seconds without speech."""
        ...

    def process(self, frame: np.ndarray, probability: float, seconds: float, tail: float | None = None) -> Outcome:
        """``tail``: the VAD's probability for the frame's last window, when it can tell."""
        ...

    @property
    def started(self) -> bool:
        """Speech long enough to be a question was heard."""
        ...

    @property
    def last(self) -> Judged | None:
        """How the latest recording's end was judged (a turn-detection policy's verdict); None when only the
        silence ended it."""
        ...


@runtime_checkable
class TextAwarePolicy(Protocol):
    """An end-of-turn policy that also reads the transcript of the question so far (see endpoint.semantic)."""

    def set_text_request(self, request: Callable[[Any], bool] | None) -> None:
        """How to commit the speech so far and have its text come back to ``heard_text`` with a token."""
        ...

    def heard_text(self, text: str, token: object) -> Outcome: ...

    @property
    def speech_after_commit(self) -> bool:
        """Speech was heard since the last commit (the end of the recording needs its own transcript)."""
        ...


class SilencePolicy:
    """The question ends after a run of trailing silence (the VAD probability against a threshold)."""

    def __init__(self, settings: EndpointSettings) -> None:
        self._settings = settings
        self._segmenter = self._new(settings.start_timeout)

    def _new(self, start_timeout: float) -> Segmenter:
        e = self._settings
        return Segmenter(
            trailing_silence=e.trailing_silence,
            start_timeout=start_timeout,
            max_seconds=e.max_seconds,
            min_speech_seconds=e.min_speech_seconds,
        )

    def begin(self, start_timeout: float) -> None:
        self._segmenter = self._new(start_timeout)

    def process(self, frame: np.ndarray, probability: float, seconds: float, tail: float | None = None) -> Outcome:
        return self._segmenter.process(probability >= self._settings.vad_threshold, seconds)

    @property
    def started(self) -> bool:
        return self._segmenter.started

    @property
    def last(self) -> Judged | None:
        return None  # the silence alone ends the question


class Listener:
    def __init__(self, vad: VoiceActivity, policy: EndOfTurnPolicy, preroll_seconds: float) -> None:
        self.vad = vad
        self.policy = policy
        self._tail = vad if isinstance(vad, TailVoiceActivity) else None
        self.text_policy = policy if isinstance(policy, TextAwarePolicy) else None
        """The policy, when it also reads the transcript so far (None otherwise)."""
        self._preroll = Preroll(preroll_seconds)
        self._frames: list[np.ndarray] = []
        self._start = 0.0
        self.now = 0.0  # seconds of microphone audio seen so far
        self.recording = False

    def process(self, frame: np.ndarray, *, keep: bool = True) -> Utterance | None:
        """Account for one frame. While recording: the utterance when this frame ends it. Otherwise the
        frame joins the pre-roll (unless ``keep`` is False, e.g. while muted: nothing is kept)."""
        self.now += FRAME_SECONDS
        if not self.recording:
            if keep:
                self._preroll.push(frame)
            return None
        self._frames.append(frame)
        probability = self.vad.speech_probability(frame)
        tail = self._tail.tail_probability() if self._tail is not None else None
        return self._outcome(self.policy.process(frame, probability, FRAME_SECONDS, tail))

    def _outcome(self, outcome: Outcome) -> Utterance | None:
        if outcome == Outcome.CONTINUE:
            return None
        return self._finish(outcome != Outcome.NO_SPEECH, outcome.value)

    def heard_text(self, text: str, token: object) -> Utterance | None:
        """The transcript of the question so far arrived (asked for by the end-of-turn policy at a pause):
        the utterance when it lets the turn end now."""
        if not self.recording or self.text_policy is None:
            return None
        return self._outcome(self.text_policy.heard_text(text, token))

    def start(self, *, preroll: bool, start_timeout: float) -> None:
        """Start recording, with the frames just before this moment when ``preroll``."""
        self.policy.begin(start_timeout)
        self.vad.reset()
        frames = self._preroll.take() if preroll else []
        self._preroll.clear()
        self._frames = list(frames)
        self._start = self.now - len(frames) * FRAME_SECONDS
        self.recording = True

    def recorded(self) -> list[np.ndarray]:
        """The frames of the recording so far (the pre-roll, right after ``start``)."""
        return list(self._frames)

    def finish(self, reason: str) -> Utterance:
        """End the recording now (the input ended): speech if the policy heard the question begin."""
        return self._finish(self.policy.started, reason)

    def discard(self) -> tuple[float, float]:
        """Drop the recording (a press, mute, shutdown); returns its start and end in audio time."""
        self._frames = []
        self.recording = False
        return self._start, self.now

    def _finish(self, speech: bool, reason: str) -> Utterance:
        audio = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        self._frames = []
        self.recording = False
        start = self._start
        return Utterance(audio, start, start + len(audio) / SAMPLE_RATE, reason, speech)


def end_of_turn_event(policy: EndOfTurnPolicy, utterance: Utterance, trailing_silence: float) -> EndOfTurn | None:
    """How the end of ``utterance`` was heard: the semantic policy's verdict, or the silence that ended it
    (None when the question did not end by itself: no speech, the hard cap, the input ended)."""
    last = policy.last
    if last is not None:
        probability = None if last.probability is None else round(last.probability, 3)
        return EndOfTurn(last.reason.value, round(last.wait * 1000, 1), probability, last.held)
    if utterance.reason == "speech_ended":
        return EndOfTurn("silence", round(trailing_silence * 1000, 1))
    return None
