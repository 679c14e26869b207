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
from ..ports import FRAME_SECONDS, SAMPLE_RATE, Microphone
from ..settings import Settings
from . import enroll, verifier
from .oww import OpenWakeWordDetector


def _read(path: str) -> np.ndarray:
    pcm, rate = read_wav(path)
    return float_to_int16(resample(pcm, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else pcm)


TAKE_SECONDS = 3.0
NEGATIVE_SECONDS = 10.0


def _record(frames: Iterator[np.ndarray], seconds: float) -> np.ndarray:
    try:
        return np.concatenate([next(frames) for _ in range(round(seconds / FRAME_SECONDS))])
    except StopIteration:
        raise enroll.EnrollError("the microphone stopped before the recording was complete") from None


def record(
    microphone: Microphone, detector: OpenWakeWordDetector, model: str, count: int, out: Callable[[str], None]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` takes, each checked at once and asked for again until it passes (at most three tries per
    take), then the user reading the near-miss prompt. Recorded raw, as the model hears it with the front
    end off."""
    frames = iter(microphone.frames())
    takes: list[np.ndarray] = []
    tries = 0
    while len(takes) < count:
        n = len(takes) + 1
        tries += 1
        if tries > 3 * count:
            raise enroll.EnrollError("too many takes failed their check; see the reasons above")
        out(f"take {n} of {count}: say the wake word ({model.replace('_', ' ')}) now")
        take = _record(frames, TAKE_SECONDS)
        check = enroll.check_take(detector, take, model, n)
        if check.ok:
            out(f"  take {n}: good (score {check.score:.2f})")
            takes.append(take)
        else:
            out(f"  take {n}: {check.problem}; once more")
    out(f'now read aloud, in your normal voice: "{enroll.NEGATIVE_PROMPT}"')
    return takes, [_record(frames, NEGATIVE_SECONDS)]


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
            if not args.negative_wav:
                raise enroll.EnrollError(
                    "with --wav, give --negative-wav too: a few seconds of the same voice saying other things, "
                    f'best the prompt "{enroll.NEGATIVE_PROMPT}"'
                )
            takes = [_read(p) for p in args.wav]
            negatives = [_read(p) for p in args.negative_wav]
            source = "negative WAVs"
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
        f"stored a verifier for {result.model} in {path}: {result.takes} takes, negatives: {result.negatives}; "
        f"used from the appliance's next start (remove with `appliance enroll --remove`)"
    )
    return 0


def _from_microphone(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None]
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    from ..audio import AUDIO_BACKENDS
    from ..wiring import RunOptions

    if not enroll.MIN_TAKES <= args.takes <= enroll.MAX_TAKES:
        raise enroll.EnrollError(f"--takes: {enroll.MIN_TAKES} to {enroll.MAX_TAKES}")
    detector = OpenWakeWordDetector(dataclasses.replace(settings.wake, refractory_seconds=0.0), seed=0)
    microphone = AUDIO_BACKENDS.get(settings.audio.backend)().microphone(settings, RunOptions())
    try:
        takes, negatives = record(microphone, detector, args.model or detector.names[0], args.takes, out)
    finally:
        microphone.close()
    return takes, negatives, "your reading of the near-miss prompt"
