"""What a training makes: the recipe, its utterances (the plan) and the progress shown while it runs."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import TextIO

import appliance.wake.train.engines as engines
import appliance.wake.train.phrase as phrase

RECIPE_VERSION = 2
RATE = 16000


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
    #: other talkers from the same voices: this share of the augmented speech (positives, neighbours and
    #: general speech alike) resampled by a factor drawn log-uniformly from ``warp`` (augment.warp)
    warp_share: float = 0.0
    warp: tuple[float, float] = (0.85, 1.2)
    neighbour_weight: float = 0.6  # the neighbours' share of the loss beside the positives' and speech's 1
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
            self.warp_share,
            self.warp,
            self.neighbour_weight,
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
