"""Benchmark of a trained wake model (appliance wake train) against the pretrained one, side by side, on voices
and rooms the training never used.

    uv run python scripts/bench_wake_trained.py --model appliance/wake/models/hey_jarvis_trained.npz
    uv run python scripts/bench_wake_trained.py --model M.npz --pretrained none --wake-text "Hey kitchen!"
    uv run python scripts/bench_wake_trained.py --model M.npz --minutes 180     # false wakes on 3 h of speech

- Recall: the wake phrase said by flite (Debian's awb, rms and slt voices: an engine the recipe holds out)
  at three speeds, in five conditions: clean, pink noise at 10 and 5 dB SNR, babble of five flite talkers at
  5 dB SNR, and a far field (a simulated room with the talker 3-5 m away, RT60 0.3-0.9 s, pink noise 20 dB
  under the speech). ``--seen-engines`` adds the same with piper and espeak-ng voices (engines the recipe
  trains on, other random settings).
- Near misses: bench_wake.py's 26 phrases ("Hey Travis", "Hey, jar this for me.") said by the flite voices;
  those the recipe's own neighbour generator also produces are counted apart.
- False wakes: sentences of /usr/share/common-licenses (which the recipe leaves out of training) read by the
  flite voices and espeak-ng, one stream per voice with pauses (each voice starts elsewhere in the text and
  wraps around: the text holds about 50 minutes of speech); episodes at each model's threshold with the default
  2 s refractory period.
- CPU per 80 ms frame of each model alone (back to back), and the training's time and peak memory from the
  model's metadata.

Each model is judged at its own threshold: the trained one at the threshold in its metadata, the pretrained
one at wake.threshold's default (0.5) unless --pretrained-threshold says otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config.settings import WakeSettings  # noqa: E402
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS  # noqa: E402
from appliance.wake import trained  # noqa: E402
from appliance.wake.oww import OpenWakeWordDetector  # noqa: E402
from appliance.wake.train import augment, engines, phrase  # noqa: E402
from appliance.wake.train.corpus import LICENCES, _clean_sentences  # noqa: E402

RATE = 16000
CONDITIONS = ("clean", "pink10", "pink5", "babble5", "far")
NEAR_MISSES = [
    f"Hey {name}!"
    for name in (
        "Travis", "Davis", "Marvin", "Jervis", "Charvis", "Harvey", "Jarred", "Jasmine", "Jamie", "Jack",
        "Carlos", "Mavis", "Elvis", "Jarvik", "Garvey", "Marcus", "Charlie", "Curtis", "Doris", "Service",
    )
] + ["Harvest this.", "A jar of jam is on the shelf.", "Hey, jar this for me.", "Hi Jay, it's Vis.",
     "The jury was nervous.", "Hey, Jarrod, is this yours?"]  # fmt: skip
SPEEDS = (0.85, 1.0, 1.15)


def held_out_voices() -> list[engines.Voice]:
    return [engines.Voice("flite", v, speed=s) for v in engines.FLITE_VOICES for s in SPEEDS]


def seen_voices() -> list[engines.Voice]:
    out = [engines.Voice("piper", "joe", speed=s, noise=0.5, noise_w=0.6) for s in SPEEDS]
    for name in ("en-us+m3", "en-gb+f2", "en-gb-scotland+m2", "en-us+f4"):
        out += [engines.Voice("espeak", name, speed=s, pitch=50) for s in SPEEDS]
    return out


def licence_sentences() -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for path in sorted(LICENCES.iterdir()):
        if path.is_file() and not path.is_symlink():
            for s in _clean_sentences(path.read_text(errors="replace")):
                words = s.split()
                for i in range(0, len(words), 28):
                    piece = " ".join(words[i : i + 28])
                    if len(piece.split()) >= 3 and piece.lower() not in seen:
                        seen.add(piece.lower())
                        out.append(piece)
    return out


def render(voice: np.ndarray, condition: str, seed: int, talkers: list[np.ndarray]) -> np.ndarray:
    """The utterance as the microphone hears it: 1.5 s of the condition before, 1 s after."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(int(1.5 * RATE), np.float32), voice * 0.5, np.zeros(RATE, np.float32)])
    level = augment.rms(voice * 0.5)
    if condition == "far":
        x = augment.reverberate(x, augment.room_impulse(rng, (3.0, 5.0)))
        x *= 10 ** (-14 / 20)
        x += augment.coloured_noise(len(x), rng, "pink") * augment.rms(x) / 10 ** (20 / 20)
    elif condition in ("pink10", "pink5"):
        x += augment.coloured_noise(len(x), rng, "pink") * level / 10 ** (int(condition[4:]) / 20)
    elif condition == "babble5":
        x += augment.babble(len(x), rng, talkers, 5) * level / 10 ** (5 / 20)
    x += rng.normal(0, 1, len(x)).astype(np.float32) * 10 ** (-60 / 20)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def best_scores(detector: OpenWakeWordDetector, audio: np.ndarray) -> dict[str, float]:
    detector.reset()
    best = dict.fromkeys(detector.names, 0.0)
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detector.process(audio[i : i + FRAME_SAMPLES])
        for n in detector.names:
            best[n] = max(best[n], float(detector.last_scores[n]))
    return best


def stream_episodes(
    detector: OpenWakeWordDetector, audio: np.ndarray, thresholds: dict[str, float]
) -> dict[str, list[tuple[float, float]]]:
    """Wakes (time, score) per model over a long stream, with a 2 s refractory period."""
    detector.reset()
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in detector.names}
    last = dict.fromkeys(detector.names, -1e9)
    for k, i in enumerate(range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)):
        detector.process(audio[i : i + FRAME_SAMPLES])
        t = k * FRAME_SECONDS
        for n in detector.names:
            s = float(detector.last_scores[n])
            if s >= thresholds[n] and t - last[n] >= 2.0:
                out[n].append((round(t, 1), round(s, 3)))
                last[n] = t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the trained model (.npz) or a shipped trained name")
    parser.add_argument("--pretrained", default="hey_jarvis", help="pretrained model to compare with, or 'none'")
    parser.add_argument("--pretrained-threshold", type=float, default=WakeSettings().threshold)
    parser.add_argument("--wake-text", action="append", help="how the phrase is written (repeatable)")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of general speech for false wakes")
    parser.add_argument("--seen-engines", action="store_true", help="also piper and espeak-ng voices")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    model_path = Path(args.model)
    if model_path.suffix != trained.SUFFIX:
        model_path = trained.shipped_dir() / f"{args.model}{trained.SUFFIX}"
    head = trained.load(model_path)
    wake_texts = args.wake_text or [
        head.phrase.capitalize() + "!",
        head.phrase.capitalize() + ", what time is it?",
    ]
    models = [str(model_path)] + ([] if args.pretrained == "none" else [args.pretrained])
    detector = OpenWakeWordDetector(WakeSettings(models=tuple(models), refractory_seconds=0.0))
    names = detector.names
    thresholds = {n: detector.threshold(n) for n in names}
    if args.pretrained != "none":
        thresholds[args.pretrained] = args.pretrained_threshold
    started = time.monotonic()
    report: dict[str, Any] = {
        "model": str(model_path),
        "thresholds": thresholds,
        "training": head.meta.get("figures", {}),
    }
    print(f"# bench_wake_trained: {' vs '.join(f'{n} @{thresholds[n]:.2f}' for n in names)}")

    licence = licence_sentences()
    talker_voices = [engines.Voice("flite", v) for v in engines.FLITE_VOICES]
    talkers = []
    for i, v in enumerate(talker_voices):
        talkers += engines.synth_many(licence[200 + 10 * i : 210 + 10 * i], v)

    blocks = [("held-out engine (flite)", held_out_voices())]
    if args.seen_engines:
        blocks.append(("engines seen in training (piper, espeak-ng)", seen_voices()))
    report["recall"] = {}
    for label, voices in blocks:
        found = {n: dict.fromkeys(CONDITIONS, 0) for n in names}
        total = 0
        misses: list[str] = []
        for vi, voice in enumerate(voices):
            utterances = engines.synth_many(wake_texts, voice)
            for ti, audio in enumerate(utterances):
                total += 1
                for ci, condition in enumerate(CONDITIONS):
                    clip = render(audio, condition, seed=1000 * vi + 10 * ti + ci, talkers=talkers)
                    best = best_scores(detector, clip)
                    for n in names:
                        if best[n] >= thresholds[n]:
                            found[n][condition] += 1
                        elif n == names[0]:
                            misses.append(f"{voice.key}@{voice.speed} {wake_texts[ti]!r} {condition} {best[n]:.2f}")
        print(f"\n## Recall, {label}: {total} utterances per condition")
        print(f"{'model':<24}" + "".join(f"{c:>10}" for c in CONDITIONS))
        for n in names:
            print(f"{n:<24}" + "".join(f"{found[n][c] / total * 100:>9.1f}%" for c in CONDITIONS))
        report["recall"][label] = {n: {c: found[n][c] / total for c in CONDITIONS} for n in names}
        if misses:
            print(f"  {names[0]} missed: " + "; ".join(misses[:12]))

    generated = {re.sub(r"[^a-z ]", "", t.lower()).strip() for t in phrase.neighbours(head.phrase, 90, 1)}
    print(f"\n## Near misses: {len(NEAR_MISSES)} phrases x {len(held_out_voices())} flite voice/speed settings, clean")
    rejected = {n: [0, 0] for n in names}
    rejected_new = {n: [0, 0] for n in names}
    woke: dict[str, dict[str, float]] = {n: {} for n in names}
    for vi, voice in enumerate(held_out_voices()):
        for ti, audio in enumerate(engines.synth_many(NEAR_MISSES, voice)):
            best = best_scores(detector, render(audio, "clean", seed=50_000 + 100 * vi + ti, talkers=talkers))
            key = re.sub(r"[^a-z ]", "", NEAR_MISSES[ti].lower()).strip()
            for n in names:
                ok = best[n] < thresholds[n]
                rejected[n][0] += ok
                rejected[n][1] += 1
                if key not in generated:
                    rejected_new[n][0] += ok
                    rejected_new[n][1] += 1
                if not ok:
                    woke[n][NEAR_MISSES[ti]] = max(woke[n].get(NEAR_MISSES[ti], 0.0), round(best[n], 2))
    report["near_misses"] = {}
    for n in names:
        r, t = rejected[n]
        rn, tn = rejected_new[n]
        print(
            f"{n:<24} rejected {r}/{t} ({r / t * 100:.1f} %); of those the recipe does not generate: {rn}/{tn} "
            f"({rn / max(1, tn) * 100:.1f} %); woke: {', '.join(f'{k} {v}' for k, v in sorted(woke[n].items()))}"
        )
        report["near_misses"][n] = {"rejected": r / t, "rejected_not_generated": rn / max(1, tn), "woke": woke[n]}

    # false wakes: licence text, flite voices and espeak-ng, one stream per voice
    stream_voices = [engines.Voice("flite", v) for v in engines.FLITE_VOICES] + [
        engines.Voice("espeak", "en-us+m3"),
        engines.Voice("espeak", "en-gb+f2"),
    ]
    per_voice = args.minutes * 60 * RATE / len(stream_voices)
    rng = np.random.default_rng(5)
    wakes = {n: 0 for n in names}
    seconds = 0.0
    examples: dict[str, list[str]] = {n: [] for n in names}
    highest = dict.fromkeys(names, 0.0)
    for vi, voice in enumerate(stream_voices):
        # each voice starts at its own place in the text and wraps around: the licences hold about 50 minutes
        # of speech, so beyond that the voices read the same text (a new voice is new audio all the same)
        parts, total = [], 0
        cursor = vi * len(licence) // len(stream_voices)
        read = 0
        while total < per_voice and read < len(licence):
            batch = [licence[(cursor + k) % len(licence)] for k in range(5)]
            cursor += 5
            read += 5
            for audio in engines.synth_many(batch, voice):
                gap = rng.normal(0, 1, int(rng.uniform(0.2, 1.2) * RATE)).astype(np.float32) * 10 ** (-60 / 20)
                parts += [audio * 0.5, gap]
                total += len(audio) + len(gap)
        if not parts:
            break
        pcm = np.clip(np.round(np.concatenate(parts) * 32767), -32768, 32767).astype(np.int16)
        seconds += len(pcm) / RATE
        episodes = stream_episodes(detector, pcm, {n: min(thresholds[n], 0.3) for n in names})
        for n in names:
            hits = [(t, s) for t, s in episodes[n] if s >= thresholds[n]]
            wakes[n] += len(hits)
            examples[n] += [f"{voice.key} {t:.0f}s {s}" for t, s in hits[:3]]
            highest[n] = max([highest[n], *(s for _, s in episodes[n])])
    hours = seconds / 3600
    print(
        f"\n## False wakes: {seconds / 60:.1f} min of licence text (held out of training), {len(stream_voices)} voices"
    )
    report["false_wakes"] = {"minutes": seconds / 60}
    for n in names:
        print(
            f"{n:<24} {wakes[n]} wakes = {wakes[n] / hours:.2f} per hour; highest score {highest[n]:.2f}"
            + (f"; e.g. {', '.join(examples[n][:4])}" if examples[n] else "")
        )
        report["false_wakes"][n] = {"wakes": wakes[n], "per_hour": wakes[n] / hours}

    print("\n## CPU per 80 ms frame, each model alone (back to back, after a warm-up)")
    audio = render(engines.synth(wake_texts[0], held_out_voices()[1]), "pink10", 3, talkers)
    audio = np.tile(audio, 4)
    report["cpu_ms"] = {}
    for n, m in zip(names, models, strict=True):
        det = OpenWakeWordDetector(WakeSettings(models=(m,)))
        frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
        for f in frames[:25]:
            det.process(f)
        t0 = time.process_time()
        for f in frames:
            det.process(f)
        ms = (time.process_time() - t0) / len(frames) * 1e3
        report["cpu_ms"][n] = ms
        print(f"{n:<24} {ms:.2f} ms ({ms / 80 * 100:.1f} % of a core)")
    fig = head.meta.get("figures", {})
    print(
        f"\n## Training ({head.name}): {fig.get('seconds_this_run', '?')} s wall, "
        f"{fig.get('cpu_seconds_this_run', '?')} s CPU in the trainer's process, "
        f"peak memory {fig.get('peak_memory_mb', '?')} MB, on {fig.get('machine', '?')}"
    )
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
