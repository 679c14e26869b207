"""The end-of-turn policy joined to its model and the utterance's audio: what the listener calls for each frame.

It keeps the last 8 s of the turn (all the model ever looks at) and, when the policy asks, runs the model on the
listener's thread: ~120 ms of CPU here (more on a Pi), which the microphone's buffer absorbs; frames that came
meanwhile are read at once afterwards, so a verdict asked on the last speech frame is ready when the first
silent frame is. Running it on a worker thread would not make it sooner: the answer is what the turn waits
for. The policy stays pure; this is the only place that pairs it with audio.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from appliance.listening.endpoint.policy import Action, EndOfTurn, TurnPolicy
from appliance.listening.endpoint.smart_turn import WINDOW_SAMPLES, TurnVerdict


class TurnModel(Protocol):
    def predict(self, pcm: npt.NDArray[Any]) -> TurnVerdict: ...


class TurnDetector:
    def __init__(
        self, policy: TurnPolicy, model: TurnModel | None, request_text: Callable[[int], bool] | None = None
    ) -> None:
        """``model`` None: the policy's long pause decides every turn (no model installed or it failed).
        ``request_text(pause_id)`` starts the transcript of the speech so far, whose verdict comes back through
        ``policy.text``; False (or no such callable) when it cannot, and the model's verdict stands alone."""
        self.policy = policy
        self.model = model
        self.request_text = request_text
        self.verdicts: list[TurnVerdict] = []
        self._frames: deque[npt.NDArray[np.int16]] = deque()
        self._samples = 0

    def reset(self) -> None:
        self.policy.reset()
        self.verdicts = []
        self._frames.clear()
        self._samples = 0

    @property
    def result(self) -> EndOfTurn | None:
        return self.policy.result

    def audio(self) -> npt.NDArray[np.int16]:
        """The last (up to) 8 s of the turn."""
        if not self._frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(list(self._frames))

    def process(
        self, frame: npt.NDArray[np.int16], is_speech: bool, seconds: float | None = None, *, tail_silent: bool = False
    ) -> Action:
        """One frame of the turn and the VAD's verdict on it. Returns CONTINUE or END (the model is asked and the
        transcript requested here)."""
        self._frames.append(frame)
        self._samples += len(frame)
        while self._samples - len(self._frames[0]) >= WINDOW_SAMPLES:
            self._samples -= len(self._frames.popleft())
        action = self.policy.process(
            is_speech, len(frame) / 16000 if seconds is None else seconds, tail_silent=tail_silent
        )
        return self._carry_out(action)

    def _carry_out(self, action: Action) -> Action:
        if action in (Action.TEXT, Action.ASK_TEXT):
            asked = self.policy.pause_id
            if self.request_text is None or not self.request_text(asked):
                after = self.policy.text(False, asked)
                if action is Action.TEXT:
                    return after
            elif action is Action.TEXT:
                return Action.CONTINUE
            action = Action.ASK
        if action is Action.ASK:
            if self.model is None:
                return Action.CONTINUE
            verdict = self.model.predict(self.audio())
            self.verdicts.append(verdict)
            action = self.policy.verdict(verdict.probability)
        return action
