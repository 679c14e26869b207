"""Features of the spoken utterances (clips, speech streams, noise), the head fitted on them and its threshold."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import appliance.wake.train.augment as augment
import appliance.wake.train.features as features
import appliance.wake.train.head as head
from appliance.wake.train.recipe import RATE, Progress, Recipe, TrainError, Utterance, is_validation
from appliance.wake.train.workfolder import atomic_save, load, to_int16

SHARD = 192
KIND = {"positive": 1, "neighbour": 2, "sentence": 3, "noise": 4}


def featurize(
    work: Path, recipe: Recipe, utterances: list[Utterance], progress: Progress, check: Callable[[], None]
) -> None:
    folder = work / "features"
    folder.mkdir(exist_ok=True)
    extractor = features.extractor()
    sentences = [u for u in utterances if u.kind == "sentence"]
    talkers = [load(work, u) for u in sentences[: min(len(sentences), 200)]]  # babble sources
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
                audio = load(work, u)
                strength = 0.0 if copy == 0 and u.kind == "positive" else 1.0
                if strength > 0:
                    audio = _other_talker(audio, recipe, rng)
                clip = np.zeros(features.CLIP_SAMPLES, np.float32)
                end = features.CLIP_SAMPLES - int(rng.uniform(0.08, 0.4) * RATE)
                piece = audio[-end:]
                clip[end - len(piece) : end] = piece
                clips[i] = to_int16(augment.augment(clip, rng, talkers, strength=strength))
            x = features.embed(extractor, clips)[:, -features.WINDOWS :]
            kinds = np.array([KIND[u.kind] for u, _ in shard], np.int8)
            val = np.array([is_validation(u, recipe.validation, recipe.seed) for u, _ in shard])
            atomic_save(path, x=x.astype(np.float16), kind=kinds, val=val)
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
                    audio = augment.augment(_other_talker(load(work, u), recipe, rng), rng, talkers)
                    gap = rng.normal(0, 1, int(rng.uniform(0.1, 0.8) * RATE)).astype(np.float32) * 10 ** (-70 / 20)
                    parts += [audio, gap]
                stream = np.concatenate(parts)
                x = _stream_windows(extractor, stream)
                # the last streams (other sentences, other voices) are the validation split
                val = np.full(len(x), s >= int(len(streams) * (1 - recipe.validation)))
                atomic_save(path, x=x.astype(np.float16), kind=np.full(len(x), KIND["sentence"], np.int8), val=val)
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
            atomic_save(
                path, x=x.astype(np.float16), kind=np.full(len(x), KIND["noise"], np.int8), val=np.zeros(len(x), bool)
            )
        done += 1
        progress("shards", done, total)
        check()


def _other_talker(audio: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """On ``recipe.warp_share`` of the speech: the same words from a longer or shorter vocal tract."""
    if recipe.warp_share <= 0 or rng.random() >= recipe.warp_share:
        return audio
    low, high = recipe.warp
    return augment.warp(audio, float(np.exp(rng.uniform(np.log(low), np.log(high)))))


def _stream_windows(extractor: Any, stream: np.ndarray, stride: int = 2) -> np.ndarray:
    """Every ``stride``-th run of 16 consecutive embeddings of a long stream (n, 16, 96)."""
    pcm = to_int16(stream)
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
    for kind, share in ((1, 1.0), (2, recipe.neighbour_weight), (3, 1.0), (4, 0.2)):
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
    atomic_save(work / "head.npz", **fitted.arrays())
    (work / "head.json").write_text(json.dumps({"threshold": threshold, "figures": figures}))
    return {"threshold": threshold, "figures": figures}
