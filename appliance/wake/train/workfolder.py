"""The resumable work folder: atomic saves, free space, the manifest, the sentences and the spoken utterances."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np

import appliance.wake.train.corpus as corpus
import appliance.wake.train.engines as engines
import appliance.wake.train.phrase as phrase
from appliance.wake.train.recipe import RATE, Progress, Recipe, TrainError, Utterance


def atomic_save(path: Path, **arrays: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **cast(dict[str, Any], arrays))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def check_space(folder: Path, needed: int) -> None:
    free = free_bytes(folder)
    if free < needed:
        raise TrainError(
            f"not enough disk space in {folder}: {free / 1e6:.0f} MB free, the training needs about "
            f"{needed / 1e6:.0f} MB; free some space or give another --work folder"
        )


def manifest_of(recipe: Recipe) -> dict[str, Any]:
    d = asdict(recipe)
    d["phrase"] = phrase.normalize(recipe.phrase)
    return d


def open_work(work: Path, recipe: Recipe) -> None:
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the work folder {work}: {exc.strerror}") from exc
    manifest = work / "recipe.json"
    wanted = json.loads(json.dumps(manifest_of(recipe)))
    if manifest.is_file():
        try:
            have = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            have = None
        if have != wanted:
            raise TrainError(
                f"the work folder {work} belongs to another training "
                f"({have.get('phrase') if isinstance(have, dict) else 'unreadable'!r}); give another --work folder "
                "or delete it"
            )
        return
    tmp = manifest.with_suffix(".part")
    tmp.write_text(json.dumps(wanted, indent=2))
    os.replace(tmp, manifest)


# --- stages --------------------------------------------------------------------------------------------


def choose_sentences(work: Path, recipe: Recipe) -> list[str]:
    path = work / "sentences.json"
    if path.is_file():
        loaded: list[str] = json.loads(path.read_text())
        return loaded
    chosen = corpus.sentences(recipe.phrase, recipe.sentences, recipe.seed)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(chosen))
    os.replace(tmp, path)
    return chosen


def _trim(audio: np.ndarray) -> np.ndarray:
    """The voiced part (20 ms windows within 40 dB of the loudest), with 30 ms either side."""
    win = RATE // 50
    n = len(audio) // win
    if n == 0:
        return audio
    level = np.sqrt(np.mean(np.square(audio[: n * win].reshape(n, win)), axis=1))
    loud = np.flatnonzero(level > level.max() * 0.01)
    if len(loud) == 0:
        return audio
    start = max(0, loud[0] * win - RATE * 3 // 100)
    end = min(len(audio), (loud[-1] + 1) * win + RATE * 3 // 100)
    return audio[start:end]


def speak(work: Path, utterances: list[Utterance], progress: Progress, check: Callable[[], None]) -> None:
    folder = work / "speech"
    folder.mkdir(exist_ok=True)
    todo = [u for u in utterances if not (folder / f"{u.key}.npy").is_file()]
    total, done = len(utterances), len(utterances) - len(todo)
    progress.stage(f"speaking: {total} utterances ({done} already there)")
    for engine in sorted({u.voice.engine for u in todo}):
        engines.require(engine)
    # festival starts slowly: its utterances go in batches of one voice setting
    batches: dict[engines.Voice, list[Utterance]] = {}
    for u in todo:
        key = u.voice if u.voice.engine == "festival" else engines.Voice(u.key)
        batches.setdefault(key, []).append(u)
    for group in batches.values():
        for i in range(0, len(group), 25):
            part = group[i : i + 25]
            audios = engines.synth_many([u.text for u in part], part[0].voice)
            for u, audio in zip(part, audios, strict=True):
                target = folder / f"{u.key}.npy"
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
                with os.fdopen(fd, "wb") as f:
                    np.save(f, _trim(audio).astype(np.float16))
                os.replace(tmp, target)
            done += len(part)
            progress("utterances", done, total)
            check()


def load(work: Path, u: Utterance) -> np.ndarray:
    audio: np.ndarray = np.load(work / "speech" / f"{u.key}.npy").astype(np.float32)
    return audio


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
