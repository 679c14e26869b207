"""Text for the general-speech negatives, from what registry packages put on every Debian and Python system:

- the prose of /usr/share/doc/*/copyright and README files (Debian packages),
- the docstrings of Python's standard library (the interpreter's own package),
- everyday household sentences built from templates.

Sentences found in /usr/share/common-licenses are left out: the benchmark reads those (scripts/
bench_wake_trained.py), so the false wakes it counts are on text the model never heard.
"""

from __future__ import annotations

import ast
import gzip
import random
import re
import sysconfig
from pathlib import Path

DOCS = Path("/usr/share/doc")
LICENCES = Path("/usr/share/common-licenses")

_ROOMS = ("kitchen", "living room", "bedroom", "bathroom", "hallway", "garage", "office", "garden")
_THINGS = ("lights", "heating", "radio", "oven", "fan", "music", "television", "dishwasher", "kettle")
_TEMPLATES = (
    "Turn on the {thing} in the {room}.",
    "Could you switch off the {thing}, please?",
    "Is the {thing} still on in the {room}?",
    "I left my phone in the {room} again.",
    "Dinner is ready, come to the {room}.",
    "Set a reminder to fix the {thing} on {day}.",
    "What time do we leave on {day}?",
    "The {thing} in the {room} makes a strange noise.",
    "Can you turn the {thing} down a bit?",
    "We are out of coffee, add it to the list.",
    "How long until the pasta is done?",
    "Who is picking the kids up on {day}?",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _clean_sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if re.search(r"[@<>{}\[\]|\\/=_*#~^`$%]|http|www\.|\d{3,}", sentence):
            continue
        words = re.sub(r"[^A-Za-z0-9,.'!? -]", " ", sentence).split()
        if 4 <= len(words) <= 30 and sum(w.isalpha() for w in words) >= 0.8 * len(words):
            out.append(" ".join(words))
    return out


def _key(sentence: str) -> str:
    return re.sub(r"[^a-z]+", " ", sentence.lower()).strip()


def licence_sentences() -> set[str]:
    """Normalised sentences of /usr/share/common-licenses (held out for the benchmark)."""
    out: set[str] = set()
    if LICENCES.is_dir():
        for path in sorted(LICENCES.iterdir()):
            if path.is_file() and not path.is_symlink():
                out.update(_key(s) for s in _clean_sentences(path.read_text(errors="replace")))
    return out


def _read(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", errors="replace") as f:
                return f.read(200_000)
        return path.read_text(errors="replace")[:200_000]
    except OSError:
        return ""


def debian_docs(enough: int = 10**9) -> list[str]:
    sentences: list[str] = []
    if not DOCS.is_dir():
        return sentences
    for folder in sorted(DOCS.iterdir()):
        if len(sentences) >= enough:
            break
        for name in ("copyright", "README", "README.md", "README.gz", "README.Debian", "NEWS.gz"):
            path = folder / name
            if path.is_file():
                sentences += _clean_sentences(_read(path))
    return sentences


def stdlib_docstrings(limit_files: int = 400, enough: int = 10**9) -> list[str]:
    folder = Path(sysconfig.get_paths()["stdlib"])
    sentences: list[str] = []
    for path in sorted(folder.glob("*.py"))[:limit_files]:
        if len(sentences) >= enough:
            break
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    sentences += _clean_sentences(doc)
    return sentences


def household(rng: random.Random, count: int) -> list[str]:
    return [
        rng.choice(_TEMPLATES).format(thing=rng.choice(_THINGS), room=rng.choice(_ROOMS), day=rng.choice(_DAYS))
        for _ in range(count)
    ]


def sentences(phrase: str, count: int, seed: int) -> list[str]:
    """``count`` sentences of general speech (deterministic for a seed), none containing ``phrase`` and none
    from the licence texts the benchmark uses."""
    rng = random.Random(seed)
    held_out = licence_sentences()
    enough = 10 * count  # a small run reads only what it needs
    pool = [s for s in debian_docs(enough) + stdlib_docstrings(enough=enough) if _key(s) not in held_out]
    pool = list(dict.fromkeys(pool))
    rng.shuffle(pool)
    chosen = pool[: max(0, count - count // 10)]
    chosen += household(rng, count - len(chosen))
    words = _key(phrase)
    return [s for s in chosen if words not in _key(s)]
