"""``appliance wake train``: the recipe with a progress bar, and a message (never a traceback) for what the
user can fix."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.wake.train import train_phrase
from appliance.wake.train.engines import ENGINES, EngineMissing
from appliance.wake.train.phrase import PhraseError
from appliance.wake.train.pipeline import TrainError


def main(args: argparse.Namespace) -> int:
    if args.wake_command != "train":
        return 2
    if not 0.05 <= args.scale <= 10:
        print("appliance wake train: --scale must be between 0.05 and 10", file=sys.stderr)
        return 2
    if args.engines and not {e.strip() for e in args.engines.split(",")} <= set(ENGINES):
        print(f"appliance wake train: --engines takes some of {', '.join(ENGINES)}", file=sys.stderr)
        return 2
    try:
        result = train_phrase(
            args.phrase,
            Path(args.out),
            work=Path(args.work) if args.work else None,
            name=args.name,
            seed=args.seed,
            scale=args.scale,
            small=args.small,
            engines=tuple(e.strip() for e in args.engines.split(",") if e.strip()) if args.engines else None,
            progress=sys.stderr,
        )
    except (PhraseError, TrainError, EngineMissing) as exc:
        print(f"appliance wake train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nappliance wake train: interrupted; nothing was written to the output folder. Run the same command "
            "again to resume where it stopped.",
            file=sys.stderr,
        )
        return 130
    except OSError as exc:
        print(f"appliance wake train: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return 1
    meta = result.meta
    print(
        f"{result.model}: {meta['phrase']!r}, threshold {meta['threshold']:.2f}, validation recall "
        f'{meta["figures"]["validation_recall"] * 100:.0f} %. Use it with [wake] models = ["{result.model}"]'
    )
    return 0
