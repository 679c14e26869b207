"""Fixed phrases the appliance must be able to say with no network.

They are synthesized once, the first time speech synthesis works, and kept as WAV files in the state
directory; until then an earcon generated in code stands in for each.

The files outlive crashes and power cuts, so they are treated as untrusted on every start: a file that does
not decode as plausible speech is deleted (and made again once synthesis works) instead of stopping the
appliance, and temp files a crash or a full disk left behind are removed. Writes go to a temp file that is
fsynced, renamed over the old file, and then the directory is fsynced, so a power cut leaves either the old
phrase or the new one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from appliance.audio import earcons
from appliance.audio.wavfile import AudioFileError, read_wav, wav_bytes

log = logging.getLogger(__name__)

#: Said while a web search runs and nothing else has been (the turn's filler).
SEARCH_FILLER = "looking_up"
#: Said when a web search gave nothing within the turn's deadline.
SEARCH_TIMEOUT = "search_timeout"

PHRASES: dict[str, str] = {
    "offline": "Sorry, I can't reach the internet right now.",
    "error": "Sorry, something went wrong.",
    "lost_connection": "Sorry, I lost the connection.",
    "too_many_rounds": "Sorry, I couldn't finish that.",
    "timer_done": "Your timer is done.",
    SEARCH_FILLER: "Let me look that up.",
    SEARCH_TIMEOUT: "Sorry, the search took too long.",
}


def searching_tone() -> tuple[np.ndarray, int]:
    """Two soft, low notes (about 0.4 s): "I'm on it", the filler's sound until its phrase is cached."""
    rate = earcons.RATE
    notes = []
    for freq, seconds in ((392.0, 0.16), (0.0, 0.08), (392.0, 0.16)):
        t = np.arange(int(rate * seconds)) / rate
        note = np.sin(2 * np.pi * freq * t) * np.sin(np.pi * t / seconds)  # a gentle swell, no click
        notes.append(note)
    return (np.concatenate(notes) * 0.12 * 32767).astype(np.int16), rate


EARCONS: dict[str, Callable[[], tuple[np.ndarray, int]]] = {
    "offline": earcons.offline_tone,
    "error": earcons.error_tone,
    "lost_connection": earcons.offline_tone,
    "too_many_rounds": earcons.error_tone,
    "timer_done": earcons.alarm,
    SEARCH_FILLER: searching_tone,
    SEARCH_TIMEOUT: earcons.offline_tone,
}

#: Temp files are hidden and end in this suffix, so start-up can tell them from phrases.
TEMP_SUFFIX = ".wav.tmp"
#: What a spoken phrase can plausibly be: a sample rate TTS produces, and 0.1 to 30 seconds long.
RATES = (8_000, 48_000)
SECONDS = (0.1, 30.0)


def check_phrase(samples: np.ndarray, rate: int) -> str | None:
    """Why this audio is not a plausible cached phrase, or None if it is."""
    if not RATES[0] <= rate <= RATES[1]:
        return f"sample rate {rate} Hz"
    seconds = len(samples) / rate
    if not SECONDS[0] <= seconds <= SECONDS[1]:
        return f"{seconds:.2f} s long"
    if not np.any(samples):
        return "silent"
    return None


class PhraseCache:
    def __init__(self, directory: Path | None, extra: Mapping[str, str] | None = None) -> None:
        """``extra``: more phrases to keep beside the fixed ones (the local commands' replies), key → text."""
        self.directory = directory
        self.texts: dict[str, str] = {**PHRASES, **(extra or {})}
        self._memory: dict[str, tuple[np.ndarray, int]] = {}
        if directory is not None and directory.is_dir():
            self._remove_temp_files(directory)
            for key in self.texts:
                self._load(key, directory / f"{key}.wav")

    @staticmethod
    def _remove_temp_files(directory: Path) -> None:
        for stale in directory.glob(f".*{TEMP_SUFFIX}"):
            try:
                stale.unlink()
                log.info("removed the unfinished phrase file %s", stale)
            except OSError as exc:
                log.warning("cannot remove the unfinished phrase file %s: %s", stale, exc)

    def _load(self, key: str, path: Path) -> None:
        if not path.exists() and not path.is_symlink():
            return
        try:
            if not path.is_file():
                raise AudioFileError(f"{path}: not a regular file")
            samples, rate = read_wav(path)
            problem = check_phrase(samples, rate)
            if problem:
                raise AudioFileError(f"{path}: not a plausible phrase ({problem})")
        except (AudioFileError, OSError) as exc:
            log.warning("deleting the damaged phrase file (it is made again when speech works): %s", exc)
            self._discard(path)
            return
        self._memory[key] = (np.round(samples * 32768).clip(-32768, 32767).astype(np.int16), rate)

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # only an empty one: the state directory holds nothing else of value there
            else:
                path.unlink()
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc)

    def key_for(self, text: str) -> str | None:
        """The phrase key whose text this is, if any."""
        for key, phrase in self.texts.items():
            if phrase.strip().lower() == text.strip().lower():
                return key
        return None

    def missing(self) -> list[str]:
        return [key for key in self.texts if key not in self._memory]

    def has(self, key: str) -> bool:
        """The phrase's speech is cached (not only its earcon)."""
        return key in self._memory

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        return self._memory.get(key)

    def audio(self, key: str) -> tuple[np.ndarray, int]:
        """The cached speech, or the phrase's earcon."""
        return self._memory.get(key) or EARCONS.get(key, earcons.error_tone)()

    def store(self, key: str, pcm: np.ndarray, rate: int) -> bool:
        """Keep the phrase (in memory; on disk if there is a directory). Implausible audio is refused, so a
        bad synthesis cannot become the phrase for good. True if it was kept."""
        problem = check_phrase(pcm, rate)
        if problem:
            log.warning("not caching the phrase %r: the audio is not plausible (%s)", key, problem)
            return False
        if self.directory is not None:
            write_atomically(self.directory, f"{key}.wav", wav_bytes(pcm, rate))
        self._memory[key] = (pcm, rate)  # after the file: "cached" means on disk too
        return True


def write_atomically(directory: Path, name: str, data: bytes) -> bool:
    """Write ``directory/name`` so that a crash, power cut or full disk leaves the old file or the new one
    and no temp file. False (logged) if it could not be written."""
    tmp = directory / f".{name}.{os.getpid()}{TEMP_SUFFIX}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / name)
        fsync_directory(directory)
        return True
    except OSError as exc:
        log.warning("could not cache %s: %s", directory / name, exc)
        try:
            tmp.unlink(missing_ok=True)
        except OSError as cleanup:
            log.warning("could not remove %s: %s", tmp, cleanup)
        return False


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX keeps it only once the directory itself is synced)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
