"""Offline mode as the turn sees it: whether the cloud is reachable, and what to do with a question if not."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from appliance.cancel import CancelToken
from appliance.events import Event, Network
from appliance.local.offline.connectivity import Backoff, Connectivity, Probe

if TYPE_CHECKING:
    from appliance.local.offline.commands import OfflineAnswer, OfflineCommands

log = logging.getLogger(__name__)


class OfflineMode:
    """The turn reports what it finds (``unreachable``, ``reachable``); while offline, questions go to
    ``answer`` at once. Each change is a ``network`` event; going offline builds the offline commands (their
    imports, the grammar, the recogniser) in the background, so the next question does not wait for them and
    an appliance that never goes offline never loads them."""

    def __init__(
        self,
        make: Callable[[], OfflineCommands],
        probe: Probe,
        emit: Callable[[Event], None],
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self._make = make
        self._commands: OfflineCommands | None = None
        self._building = threading.Lock()
        self._emit = emit
        self._why = ""
        self.connectivity = Connectivity(probe, self._changed, backoff=backoff)

    @property
    def online(self) -> bool:
        return self.connectivity.online

    def unreachable(self, why: str) -> None:
        self._why = why
        self.connectivity.unreachable(why)

    def reachable(self) -> None:
        self.connectivity.reachable()

    @property
    def commands(self) -> OfflineCommands:
        with self._building:
            if self._commands is None:
                self._commands = self._make()
            return self._commands

    def answer(self, audio: np.ndarray, cancel: CancelToken, emit: Callable[[Event], None]) -> OfflineAnswer:
        return self.commands.answer(audio, cancel, emit)

    def close(self) -> None:
        self.connectivity.close()

    def _changed(self, online: bool) -> None:
        self._emit(Network(online=online, reason="" if online else self._why))
        if not online:
            threading.Thread(target=self._warm, name="offline-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.commands.warm()
        except Exception:  # the first offline question will say why, as an error of its turn
            log.exception("could not load the offline recogniser")
