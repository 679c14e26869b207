"""The listener's end-of-turn policy on the turn-detection model: a short pause asks smart-turn whether the
question is finished; a long pause ends it anyway (see :mod:`appliance.listening.endpoint.policy`). With streaming
transcription, a "finished" verdict is checked against the transcript of the speech so far, which the
transcriber commits at that pause: one that reads cut short ("... like in") holds the turn open."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.config.settings import EndpointSettings
from appliance.listening.endpoint.detector import TurnDetector, TurnModel
from appliance.listening.endpoint.policy import Action, EndOfTurn, EndReason, TurnPolicy
from appliance.listening.endpoint.text import reads_unfinished
from appliance.listening.segmenter import Outcome

log = logging.getLogger(__name__)

_OUTCOMES = {
    EndReason.COMPLETE: Outcome.SPEECH_ENDED,
    EndReason.PAUSE: Outcome.SPEECH_ENDED,
    EndReason.MAX_LENGTH: Outcome.MAX_LENGTH,
    EndReason.NO_SPEECH: Outcome.NO_SPEECH,
}


@dataclass(frozen=True)
class TextToken:
    """Which recording and which speech a transcript asked for belongs to (a late one is ignored)."""

    recording: int
    pause_id: int


#: Commits the speech so far to the transcriber and arranges for its text to reach ``Listener.heard_text`` with
#: this token; False when it cannot (no live streaming session).
TextRequest = Callable[[TextToken], bool]


class SemanticPolicy:
    """listener.EndOfTurnPolicy on :class:`TurnDetector`; ``last`` is the latest turn's end (the event)."""

    def __init__(self, settings: EndpointSettings, model: TurnModel | None) -> None:
        self._settings = settings
        self._model = model
        self._request: TextRequest | None = None
        self._recording = 0
        self._committed: int | None = None  # the speech (pause_id) last committed for its transcript
        self._detector = self._new(settings.start_timeout)
        self.last: EndOfTurn | None = None

    def _new(self, start_timeout: float) -> TurnDetector:
        e = self._settings
        policy = TurnPolicy(
            short_pause=e.short_pause,
            long_pause=e.long_pause,
            threshold=e.turn_threshold,
            start_timeout=start_timeout,
            max_seconds=e.max_seconds,
            min_speech_seconds=e.min_speech_seconds,
            hold_for_text=self._request is not None and e.transcript_check,
            text_wait=e.transcript_wait,
            early_text=self._request is not None,
        )
        return TurnDetector(policy, self._model, self._ask_text)

    def set_text_request(self, request: TextRequest | None) -> None:
        """How to get the transcript of the speech so far (from the next recording on); None: never check."""
        self._request = request

    def set_model(self, model: TurnModel | None) -> None:
        """The model, once loaded (from the next question on)."""
        self._model = model

    def begin(self, start_timeout: float) -> None:
        self._recording += 1
        self._committed = None
        self._detector = self._new(start_timeout)
        self.last = None

    def process(self, frame: np.ndarray, probability: float, seconds: float, tail: float | None = None) -> Outcome:
        threshold = self._settings.vad_threshold
        tail_silent = tail is not None and tail < threshold
        return self._outcome(self._detector.process(frame, probability >= threshold, seconds, tail_silent=tail_silent))

    def heard_text(self, text: str, token: object) -> Outcome:
        if not isinstance(token, TextToken) or token.recording != self._recording:
            return Outcome.CONTINUE  # from an earlier recording
        unfinished = reads_unfinished(text)
        if unfinished:
            log.info("the question reads unfinished (%r): listening on", text[-40:])
        return self._outcome(self._detector.policy.text(unfinished, token.pause_id))

    @property
    def speech_after_commit(self) -> bool:
        """Speech was heard since the transcriber last committed (so the end of the recording needs its own
        transcript); True when nothing was committed."""
        return self._committed is None or self._committed != self._detector.policy.pause_id

    def _outcome(self, action: Action) -> Outcome:
        if action is not Action.END or self._detector.result is None:
            return Outcome.CONTINUE
        self.last = self._detector.result
        return _OUTCOMES[self.last.reason]

    def _ask_text(self, pause_id: int) -> bool:
        if self._request is None or not self._request(TextToken(self._recording, pause_id)):
            return False
        self._committed = pause_id
        return True

    @property
    def started(self) -> bool:
        return self._detector.policy.started


def load_model(threads: int) -> TurnModel | None:
    """smart-turn from the pipecat-ai wheel's data, or None (the long pause decides) when it cannot load."""
    from appliance.errors import ApplianceError
    from appliance.listening.endpoint.smart_turn import SmartTurn

    try:
        return SmartTurn(threads=threads)
    except (ApplianceError, ImportError) as exc:
        log.warning("turn detection without its model (%s): endpoint.long_pause ends each question", exc)
        return None
