"""Train a wake model for any short English phrase, offline, on a CPU: ``appliance wake train "PHRASE" --out DIR``
or ``train_phrase("hey kitchen", Path("models"))``. The recipe is in pipeline.py; docs/wake-word.md has its
figures. Importing this package is cheap (the command line's parser imports it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from appliance.wake.train.pipeline import Result


def train_phrase(
    phrase: str,
    out: Path,
    *,
    work: Path | None = None,
    name: str | None = None,
    seed: int = 1,
    scale: float = 1.0,
    small: bool = False,
    engines: tuple[str, ...] | None = None,
    progress: TextIO | None = None,
) -> Result:
    """Train ``phrase`` into ``out/NAME.npz`` + ``NAME.json`` (see pipeline.train for the errors raised)."""
    from appliance.wake.train.pipeline import Recipe, train

    recipe = Recipe.small(phrase, seed) if small else Recipe(phrase, seed=seed)
    if scale != 1.0:
        recipe = recipe.scaled(scale)
    if engines is not None:
        recipe.engines = engines
    return train(recipe, out, work=work, name=name, progress=progress)
