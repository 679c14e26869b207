"""Benchmark of the audio front end (WebRTC APM) and the wake-word gate: recall and false wakes with the front
end on and off on the held-out wake-word set, CPU per 10 ms block of each stage, idle CPU of the whole
listening path in a quiet room and with talk, and echo return loss enhancement on a simulated echo path.

    uv run python scripts/bench_frontend.py            # the full held-out set (792 clips; cold cache ~10 min)
    uv run python scripts/bench_frontend.py --quick    # two voices, one speed: a first look
    uv run python scripts/bench_frontend.py --skip-set # CPU and ERLE only

The set is standin/wakeset.py: six voices (piper and espeak-ng variants other than the plain en-us of
the unit tests) at three speeds, each clean, in pink noise at 10 and 5 dB SNR and in a reverberant far field;
the negatives are near misses ("hey travis", "hey marvin", ...) and ordinary talk in the same conditions.
False wakes per hour are extrapolated from the minutes of negatives, which are printed. The ERLE measured on
the real sound server is printed by tests/test_echo_pulse.py.

Targets (issue 16): recall >= 95 % in every condition with <= 1 false wake per hour; idle <= 0.5 % of a core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config.frontend import FrontEndSettings  # noqa: E402
from appliance.config.settings import WakeSettings  # noqa: E402
from appliance.frontend.base import FrontEnd, make_frontend  # noqa: E402
from appliance.frontend.frames import BLOCK_SAMPLES  # noqa: E402
from appliance.frontend.reference import ReferenceBuffer  # noqa: E402
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS  # noqa: E402
from appliance.wake.barge_in import BargeInDetector  # noqa: E402
from appliance.wake.gate import GatedWakeDetector  # noqa: E402
from appliance.wake.oww import OpenWakeWordDetector  # noqa: E402
from standin import wakeset  # noqa: E402
from standin.voice import RATE, synth  # noqa: E402

ANSWER = (
    "The forecast for tomorrow is mostly sunny with a few clouds in the afternoon, light winds from the west "
    "and a high of twenty two degrees, so it is a good day for a walk in the park."
)
STAGES: dict[str, dict[str, bool]] = {
    "high-pass": dict(echo_cancellation=False, noise_suppression=False, high_pass=True, auto_gain=False),
    "noise suppression": dict(echo_cancellation=False, noise_suppression=True, high_pass=False, auto_gain=False),
    "auto gain": dict(echo_cancellation=False, noise_suppression=False, high_pass=False, auto_gain=True),
    "echo cancellation": dict(echo_cancellation=True, noise_suppression=False, high_pass=False, auto_gain=False),
    "all (default: AEC+NS+HPF)": dict(echo_cancellation=True, noise_suppression=True, high_pass=True, auto_gain=False),
}


def frames(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def echo_of(answer: np.ndarray, delay_ms: float, gain_db: float, seed: int) -> np.ndarray:
    """The answer as the microphone hears it: delayed, attenuated, through a small room, a faint floor."""
    room = wakeset.room_response(0.3, seed, direct_to_reverb_db=3.0)
    x = np.concatenate([np.zeros(int(delay_ms * RATE / 1000)), answer.astype(np.float64)])
    x = np.convolve(x, room)[: len(x)] * 10 ** (gain_db / 20)
    x += np.random.default_rng(seed).normal(0, 32767 * 10 ** (-60 / 20), len(x))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def run_with_reference(fe: FrontEnd, mic: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """The answer handed to the speaker at the start, the microphone's frames through the front end."""
    fe.reference(answer, RATE)
    return np.concatenate([fe.process(f) for f in frames(mic)])


def bench_stages(answer: np.ndarray, mic: np.ndarray) -> list[tuple[str, float, float]]:
    """(stage, ms of CPU per 10 ms block, % of one core) with the answer playing (every stage busy)."""
    rows = []
    for name, flags in STAGES.items():
        fe = make_frontend(FrontEndSettings(enabled=True, idle_bypass_db=-120.0, **flags), ReferenceBuffer())
        fe.reference(answer, RATE)
        chunks = frames(mic)
        t0 = time.process_time()
        for f in chunks:
            fe.process(f)
        per_block = (time.process_time() - t0) / (len(chunks) * FRAME_SAMPLES // BLOCK_SAMPLES) * 1e3
        rows.append((name, per_block, per_block / 10.0 * 100))
    return rows


def bench_barge_in(answer: np.ndarray, mic: np.ndarray) -> tuple[float, float]:
    """(ms of CPU per 80 ms frame, % of one core) of the barge-in's two detectors (raw microphone and
    reference) while an answer plays: what listening over its own voice adds to the front end."""
    settings = WakeSettings()
    barge_in = BargeInDetector(OpenWakeWordDetector(settings, seed=0), OpenWakeWordDetector(settings, seed=0))
    mics, references = frames(mic), frames(answer)
    n = min(len(mics), len(references))
    t0 = time.process_time()
    for raw, reference in zip(mics[:n], references[:n], strict=True):
        barge_in.process(raw, reference)
    ms = (time.process_time() - t0) / n * 1e3
    return ms, ms / (FRAME_SECONDS * 1e3) * 100


def bench_idle(seconds: float) -> list[tuple[str, float, float]]:
    """(room, % of one core for front end + gated wake word, share of frames the model ran)."""
    quiet = np.random.default_rng(1).normal(0, 32767 * 10 ** (-60 / 20), int(seconds * RATE))
    quiet += wakeset.pink_noise(len(quiet), 32767 * 10 ** (-55 / 20), 2)
    talk_parts = [wakeset.speech(t, "espeak:en-us+m3", 1.0) for t in wakeset.TALK]
    talk = np.concatenate([np.concatenate([p, np.zeros(int(0.8 * RATE), np.int16)]) for p in talk_parts])
    talk = np.resize(talk, len(quiet)).astype(np.float64) * 10 ** (-12 / 20) + quiet
    rows = []
    for room, audio in (("quiet room (-55 dBFS pink)", quiet), ("talk (ordinary speech, no wake word)", talk)):
        pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
        for label, gated in (("front end + gate + model", True), ("front end + model, no gate", False)):
            fe = make_frontend(FrontEndSettings(enabled=True), ReferenceBuffer())
            model = OpenWakeWordDetector(WakeSettings(), seed=0)
            detector = GatedWakeDetector(model) if gated else model
            chunks = frames(pcm)
            t0 = time.process_time()
            for f in chunks:
                detector.process(fe.process(f))
            cpu = (time.process_time() - t0) / (len(chunks) * FRAME_SECONDS) * 100
            ran = detector.frames_run / detector.frames_seen if isinstance(detector, GatedWakeDetector) else 1.0
            rows.append((f"{room}: {label}", cpu, ran))
    return rows


def bench_erle(answer: np.ndarray) -> list[tuple[str, float]]:
    rows = []
    for delay_ms, gain_db in ((40, -6.0), (120, -6.0), (300, 0.0), (900, -6.0)):
        mic = echo_of(answer, delay_ms, gain_db, seed=delay_ms)
        fe = make_frontend(FrontEndSettings(enabled=True), ReferenceBuffer())
        clean = run_with_reference(fe, mic, answer)
        raw = mic[: len(clean)].astype(np.float64)
        skip = 2 * RATE  # after the canceller's first two seconds
        whole = 10 * np.log10(np.mean(raw**2) / (np.mean(clean.astype(np.float64) ** 2) + 1e-9))
        settled = 10 * np.log10(np.mean(raw[skip:] ** 2) / (np.mean(clean[skip:].astype(np.float64) ** 2) + 1e-9))
        rows.append((f"echo {delay_ms} ms late at {gain_db:+.0f} dB, small room: whole answer", whole))
        rows.append((f"echo {delay_ms} ms late at {gain_db:+.0f} dB, small room: after 2 s", settled))
    return rows


def bench_set(quick: bool, speeds: tuple[float, ...], threshold: float) -> None:
    voices = ("piper", "espeak:en-gb") if quick else wakeset.VOICES
    items = wakeset.samples(voices=voices, speeds=(1.0,) if quick else speeds)
    detector = OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0), seed=0)
    fronts: dict[str, Callable[[], FrontEnd] | None] = {
        "off": None,
        "on": lambda: make_frontend(FrontEndSettings(enabled=True), ReferenceBuffer()),
    }
    print(
        f"\n## Held-out set at threshold {threshold} ({len(items)} clips; "
        f"{sum(not s.positive for s in items)} negatives)\n"
    )
    print("| front end | condition | recall | found / positives | false wakes | negatives (min) | false wakes / h |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, factory in fronts.items():
        t0 = time.perf_counter()
        scored = wakeset.score_all(items, detector, frontend=factory)
        for row in wakeset.summarize(scored, threshold):
            print(
                f"| {label} | {row.condition} | {row.recall:.1%} | {row.found}/{row.positives} | {row.false_wakes} "
                f"| {row.negative_seconds / 60:.1f} | {row.false_wakes_per_hour:.1f} |"
            )
        missed = [s for s in scored if s.sample.positive and s.score < threshold]
        worst = sorted({(s.sample.voice, s.sample.condition) for s in missed})
        woke = sorted(
            {
                (s.sample.text, s.sample.voice, s.sample.condition)
                for s in scored
                if not s.sample.positive and s.score >= threshold
            }
        )
        print(f"<!-- front end {label}: {time.perf_counter() - t0:.0f} s; missed in {worst}; woke on {woke} -->")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-set", action="store_true")
    parser.add_argument("--threshold", type=float, default=WakeSettings().threshold)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument(
        "--speeds",
        default=",".join(map(str, wakeset.SPEEDS)),
        help="speeds of the set, comma-separated (1.0 alone: a third of the clips)",
    )
    args = parser.parse_args()
    answer = synth(ANSWER)
    mic = echo_of(answer, 120, -6.0, seed=7)

    print("## CPU per 10 ms block, answer playing (stage alone)\n")
    print("| stage | ms per 10 ms block | % of one core |")
    print("|---|---:|---:|")
    for name, ms, pct in bench_stages(answer, mic):
        print(f"| {name} | {ms:.3f} | {pct:.2f} |")

    ms, pct = bench_barge_in(answer, mic)
    print("\n## Barge-in while the answer plays (both detectors: raw microphone + reference)\n")
    print("| ms per 80 ms frame | % of one core |")
    print("|---:|---:|")
    print(f"| {ms:.2f} | {pct:.2f} |")

    print(f"\n## Listening idle ({args.idle_seconds:.0f} s of audio each)\n")
    print("| room: path | % of one core | share of frames the model ran |")
    print("|---|---:|---:|")
    for name, pct, ran in bench_idle(args.idle_seconds):
        print(f"| {name} | {pct:.2f} | {ran:.1%} |")

    print("\n## Echo return loss enhancement (simulated echo path, reference = what was played)\n")
    print("| echo path | ERLE (dB) |")
    print("|---|---:|")
    for name, db in bench_erle(answer):
        print(f"| {name} | {db:.1f} |")

    if not args.skip_set:
        bench_set(args.quick, tuple(float(x) for x in args.speeds.split(",")), args.threshold)


if __name__ == "__main__":
    main()
