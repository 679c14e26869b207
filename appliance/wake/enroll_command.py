"""``appliance enroll``: record (or read) the takes and the negatives, train, store; ``--remove`` deletes."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator

import numpy as np

from ..audio.convert import float_to_int16, resample
from ..audio.wavfile import AudioFileError, read_wav
from ..errors import ApplianceError
from ..ports import FRAME_SECONDS, SAMPLE_RATE
from ..settings import Settings
from . import enroll, verifier


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="settings file")
    p.add_argument(
        "--state-dir", help="where the verifier is stored (default $STATE_DIRECTORY, else /var/lib/appliance)"
    )
    p.add_argument("--wav", nargs="+", metavar="TAKE.wav", help="takes of the wake word instead of the microphone")
    p.add_argument("--negative-wav", nargs="+", metavar="OTHER.wav", help="other speech of the same voice")
    p.add_argument("--takes", type=int, default=4, help="how many takes to record (3-5, default 4)")
    p.add_argument("--model", help="wake model to verify (default: the first of wake.models)")
    p.add_argument("--remove", action="store_true", help="delete the stored verifier")


def _read(path: str) -> np.ndarray:
    pcm, rate = read_wav(path)
    return float_to_int16(resample(pcm, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else pcm)


def _record(frames: Iterator[np.ndarray], seconds: float) -> np.ndarray:
    wanted = round(seconds / FRAME_SECONDS)
    got = [next(frames) for _ in range(wanted)]
    return np.concatenate(got)


def main(args: argparse.Namespace, settings: Settings, out: Callable[[str], None] = print) -> int:
    directory = verifier.state_dir(args.state_dir, os.environ)
    path = verifier.verifier_path(directory)
    if args.remove:
        if path.exists():
            path.unlink()
            out(f"removed {path}: the wake word is heard by the plain model from the next start")
        else:
            out(f"no verifier stored at {path}")
        return 0
    try:
        if args.wav:
            takes = [_read(p) for p in args.wav]
            negatives = [_read(p) for p in args.negative_wav or []]
            source = "negative WAVs" if args.negative_wav else "none"
        else:
            takes, negatives, source = _from_microphone(settings, args, out)
            if args.negative_wav:
                negatives, source = [_read(p) for p in args.negative_wav], "negative WAVs"
        result = enroll.enroll(takes, negatives, settings.wake, model=args.model, source=source)
    except (ApplianceError, AudioFileError) as exc:
        print(f"appliance enroll: {exc}", file=sys.stderr)
        return 1
    kept = []
    if path.exists():
        try:
            kept = [v for v in verifier.load(path) if v.model != result.model]
        except verifier.VerifierError as exc:
            out(f"the old verifier file was unreadable and is replaced ({exc})")
    verifier.save(path, [*kept, result])
    out(
        f"stored a verifier for {result.model} in {path}: {result.takes} takes, negatives: {source}; "
        f"used from the appliance's next start (remove with `appliance enroll --remove`)"
    )
    return 0


def _from_microphone(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None]
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Takes one by one from the configured microphone (each re-recorded until it passes its check), then
    the user reading the near-miss prompt. Recorded raw, as the wake model hears it with the front end off."""
    from ..audio import AUDIO_BACKENDS
    from ..wiring import RunOptions
    from .oww import OpenWakeWordDetector

    if not enroll.MIN_TAKES <= args.takes <= enroll.MAX_TAKES:
        raise enroll.EnrollError(f"--takes: {enroll.MIN_TAKES} to {enroll.MAX_TAKES}")
    detector = OpenWakeWordDetector(dataclasses.replace(settings.wake, refractory_seconds=0.0), seed=0)
    model = args.model or detector.names[0]
    microphone = AUDIO_BACKENDS.get(settings.audio.backend)().microphone(settings, RunOptions())
    try:
        frames = iter(microphone.frames())
        takes: list[np.ndarray] = []
        while len(takes) < args.takes:
            n = len(takes) + 1
            out(f"take {n} of {args.takes}: say the wake word ({model.replace('_', ' ')}) now")
            take = _record(frames, 3.0)
            check = enroll.check_take(detector, take, model, n)
            if check.ok:
                out(f"  take {n}: good (score {check.score:.2f})")
                takes.append(take)
            else:
                out(f"  take {n}: {check.problem}; again")
        out(f'now read aloud, in your normal voice: "{enroll.NEGATIVE_PROMPT}"')
        negatives = [_record(frames, 10.0)]
    finally:
        microphone.close()
    return takes, negatives, "your reading of the near-miss prompt"
