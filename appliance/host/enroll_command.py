"""``appliance enroll``: record (or read) the takes and the negatives, train, store; ``--remove`` deletes."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from appliance.audio.convert import float_to_int16, resample
from appliance.audio.wavfile import AudioFileError, read_wav
from appliance.config.settings import Settings
from appliance.errors import ApplianceError
from appliance.ports import FRAME_SECONDS, SAMPLE_RATE, Microphone
from appliance.wake import enroll, verifier
from appliance.wake.oww import OpenWakeWordDetector


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
        return _remove(path, out)
    try:
        check_storable(path)  # before the user records anything: a take is minutes of their time
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
    if path.is_file():
        try:
            kept = [v for v in verifier.load(path) if v.model != result.model]
        except verifier.VerifierError as exc:
            out(f"the old verifier file was unreadable and is replaced ({exc})")
    try:
        verifier.save(path, [*kept, result])  # atomic: the old file stays whole if this fails
    except OSError as exc:
        print(
            f"appliance enroll: the verifier could not be stored in {path}: {why(exc)}; nothing was changed "
            "(fix that, or choose another --state-dir, and enroll again)",
            file=sys.stderr,
        )
        return 1
    out(
        f"stored a verifier for {result.model} in {path}: {result.takes} takes, negatives: {result.negatives}; "
        f"used from the appliance's next start (remove with `appliance enroll --remove`)"
    )
    return 0


def _remove(path: Path, out: Callable[[str], None]) -> int:
    if path.is_dir():
        print(
            f"appliance enroll: {path} is a folder, not a verifier file: nothing removed (remove it yourself if "
            "nothing in it is needed)",
            file=sys.stderr,
        )
        return 1
    try:
        path.unlink()
    except FileNotFoundError:
        out(f"no verifier stored at {path}")
        return 0
    except NotADirectoryError:
        out(f"no verifier stored at {path} ({path.parent} is a file, not a folder)")
        return 0
    except OSError as exc:
        print(f"appliance enroll: cannot remove {path}: {why(exc)}", file=sys.stderr)
        return 1
    out(f"removed {path}: the wake word is heard by the plain model from the next start")
    return 0


def check_storable(path: Path) -> None:
    """Raise EnrollError unless a verifier can be written at ``path``: its folder made if need be, and a file
    created in it and removed again (a read-only or full file system, a file where the folder should be, a
    folder where the file should be). A full disk can still strike at the real write; that is reported too."""
    where = "choose another --state-dir (or fix it) and enroll again"
    if path.is_dir():
        raise enroll.EnrollError(f"{path} is a folder, not a verifier file: move it away or {where}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".wake-verifier-", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise enroll.EnrollError(f"cannot store a verifier in {path.parent}: {why(exc)}; {where}") from None


def why(exc: OSError) -> str:
    """An OSError in words a person at the shell acts on."""
    reasons = {
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "the file is over the size limit (ulimit -f)",
        errno.ENOTDIR: "part of that path is a file, not a folder",
        errno.EEXIST: "a file is where the folder should be",
        errno.EISDIR: "a folder is where the verifier file should be",
        errno.EACCES: "permission denied (run as the service's user, or with sudo)",
        errno.EPERM: "operation not permitted (run as the service's user, or with sudo)",
    }
    return reasons.get(exc.errno or 0, exc.strerror or str(exc))


def _from_microphone(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None]
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    from appliance.audio import AUDIO_BACKENDS
    from appliance.host.wiring import RunOptions

    if not enroll.MIN_TAKES <= args.takes <= enroll.MAX_TAKES:
        raise enroll.EnrollError(f"--takes: {enroll.MIN_TAKES} to {enroll.MAX_TAKES}")
    detector = OpenWakeWordDetector(dataclasses.replace(settings.wake, refractory_seconds=0.0), seed=0)
    microphone = AUDIO_BACKENDS.get(settings.audio.backend)().microphone(settings, RunOptions())
    try:
        takes, negatives = record(microphone, detector, args.model or detector.names[0], args.takes, out)
    finally:
        microphone.close()
    return takes, negatives, "your reading of the near-miss prompt"
