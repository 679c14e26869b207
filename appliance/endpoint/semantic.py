"""The listener's end-of-turn policy on the turn-detection model: a short pause asks smart-turn whether the
question is finished; a long pause ends it anyway (see :mod:`appliance.endpoint.policy`)."""

from __future__ import annotations

import logging

import numpy as np

from ..settings import EndpointSettings
from ..wake.segmenter import Outcome
from .detector import TurnDetector, TurnModel
from .policy import Action, EndOfTurn, EndReason, TurnPolicy

log = logging.getLogger(__name__)

_OUTCOMES = {
    EndReason.COMPLETE: Outcome.SPEECH_ENDED,
    EndReason.PAUSE: Outcome.SPEECH_ENDED,
    EndReason.MAX_LENGTH: Outcome.MAX_LENGTH,
    EndReason.NO_SPEECH: Outcome.NO_SPEECH,
}


class SemanticPolicy:
    """listener.EndOfTurnPolicy on :class:`TurnDetector`; ``last`` is the latest turn's end (the event)."""

    def __init__(self, settings: EndpointSettings, model: TurnModel | None) -> None:
        self._settings = settings
        self._model = model
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
        )
        return TurnDetector(policy, self._model)

    def set_model(self, model: TurnModel | None) -> None:
        """The model, once loaded (from the next question on)."""
        self._model = model

    def begin(self, start_timeout: float) -> None:
        self._detector = self._new(start_timeout)
        self.last = None

    def process(self, frame: np.ndarray, probability: float, seconds: float) -> Outcome:
        action = self._detector.process(frame, probability >= self._settings.vad_threshold, seconds)
        if action is not Action.END or self._detector.result is None:
            return Outcome.CONTINUE
        self.last = self._detector.result
        return _OUTCOMES[self.last.reason]

    @property
    def started(self) -> bool:
        return self._detector.policy.started


def load_model(threads: int) -> TurnModel | None:
    """smart-turn from the pipecat-ai wheel's data, or None (the long pause decides) when it cannot load."""
    from ..errors import ApplianceError
    from .smart_turn import SmartTurn

    try:
        return SmartTurn(threads=threads)
    except (ApplianceError, ImportError) as exc:
        log.warning("turn detection without its model (%s): endpoint.long_pause ends each question", exc)
        return None
