"""Fixed phrases the appliance must be able to say with no network.

They are synthesized once, the first time speech synthesis works, and kept as WAV files in the state
directory; until then an earcon generated in code stands in for each.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..audio import earcons
from ..audio.wavfile import read_wav, write_wav

log = logging.getLogger(__name__)

PHRASES: dict[str, str] = {
    "offline": "Sorry, I can't reach the internet right now.",
    "error": "Sorry, something went wrong.",
    "lost_connection": "Sorry, I lost the connection.",
    "too_many_rounds": "Sorry, I couldn't finish that.",
}

EARCONS: dict[str, Callable[[], tuple[np.ndarray, int]]] = {
    "offline": earcons.offline_tone,
    "error": earcons.error_tone,
    "lost_connection": earcons.offline_tone,
    "too_many_rounds": earcons.error_tone,
}


class PhraseCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, tuple[np.ndarray, int]] = {}
        if directory is not None:
            for key in PHRASES:
                path = directory / f"{key}.wav"
                if path.is_file():
                    try:
                        samples, rate = read_wav(path)
                        self._memory[key] = (np.round(samples * 32768).astype(np.int16), rate)
                    except (OSError, ValueError, EOFError) as exc:
                        log.warning("ignoring the damaged phrase file %s: %s", path, exc)

    def key_for(self, text: str) -> str | None:
        """The phrase key whose text this is, if any."""
        for key, phrase in PHRASES.items():
            if phrase.strip().lower() == text.strip().lower():
                return key
        return None

    def missing(self) -> list[str]:
        return [key for key in PHRASES if key not in self._memory]

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        return self._memory.get(key)

    def audio(self, key: str) -> tuple[np.ndarray, int]:
        """The cached speech, or the phrase's earcon."""
        return self._memory.get(key) or EARCONS.get(key, earcons.error_tone)()

    def store(self, key: str, pcm: np.ndarray, rate: int) -> None:
        self._memory[key] = (pcm, rate)
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            os.close(fd)
            write_wav(tmp, pcm, rate)
            os.replace(tmp, self.directory / f"{key}.wav")
        except OSError as exc:
            log.warning("could not cache the phrase %r: %s", key, exc)
