"""The enrolled wake-word verifier on the held-out set (standin/wakeset.py): recall per condition and
false wakes per hour for the plain model and the model + verifier, at the default threshold and a lowered one.

    nice -n 10 uv run python scripts/bench_verifier.py --speeds 1.0     # 288 clips per row (~10 min here)

Each voice enrolls as its user would (appliance/wake/enroll.py): takes of the wake word the set does not use
("Hey Jarvis!" / "Hey, Jarvis." ... at speeds 0.9-1.1, clean; a take the model scores under the floor is
"repeated" with the next one), and the voice reading enroll.NEGATIVE_PROMPT. The verifier is then judged on
that voice's held-out clips only. Front end off (the verifier is trained on raw audio).

Targets (issue 16): recall >= 95 % in every condition with <= 1 false wake per hour.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config.settings import WakeSettings  # noqa: E402
from appliance.wake import enroll  # noqa: E402
from appliance.wake.oww import OpenWakeWordDetector  # noqa: E402
from appliance.wake.verifier import LinearVerifier  # noqa: E402
from standin import wakeset  # noqa: E402

CANDIDATE_TAKES = (
    ("Hey Jarvis!", 0.9),
    ("Hey, Jarvis.", 1.1),
    ("Hey Jarvis?", 0.95),
    ("Hey Jarvis.", 1.05),
    ("Hey Jarvis!", 1.1),
    ("Hey, Jarvis!", 0.9),
    ("Hey Jarvis.", 0.95),
    ("Hey, Jarvis?", 1.05),
)


def enroll_voice(voice: str, detector: OpenWakeWordDetector) -> tuple[LinearVerifier | None, str]:
    takes = []
    tried = 0
    for text, speed in CANDIDATE_TAKES:
        tried += 1
        audio = wakeset.speech(text, voice, speed)
        if enroll.check_take(detector, audio, "hey_jarvis", tried).ok:
            takes.append(audio)
        if len(takes) == 4:
            break
    if len(takes) < enroll.MIN_TAKES:
        return None, f"refused: {len(takes)} of {tried} takes passed"
    negatives = [wakeset.speech(enroll.NEGATIVE_PROMPT, voice, 1.0)]
    v = enroll.enroll(takes, negatives, WakeSettings(), source="prompt", detector=detector)
    return v, f"{len(takes)} of {tried} takes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speeds", default=",".join(map(str, wakeset.SPEEDS)))
    parser.add_argument("--voices", default=",".join(wakeset.VOICES))
    parser.add_argument("--low", type=float, default=0.3, help="the lowered threshold")
    parser.add_argument(
        "--ask", type=float, default=0.1, help="wake.verifier_threshold of the last row (openWakeWord's default)"
    )
    args = parser.parse_args()
    speeds = tuple(float(x) for x in args.speeds.split(","))
    voices = tuple(args.voices.split(","))
    default = WakeSettings().threshold
    rows: dict[str, list[wakeset.Scored]] = {}
    notes = []
    t0 = time.perf_counter()
    for voice in voices:
        items = wakeset.samples(voices=(voice,), speeds=speeds)
        det = OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0), seed=0)
        verifier, note = enroll_voice(voice, det)
        notes.append(f"{voice}: {note}")
        det.use_verifiers([])
        rows.setdefault("plain", []).extend(wakeset.score_all(items, det))
        for label, threshold, ask in (
            ("verifier", default, None),
            ("verifier low", args.low, None),
            ("verifier asked early", default, args.ask),
        ):
            settings = WakeSettings(refractory_seconds=0.0, threshold=threshold, verifier_threshold=ask)
            det = OpenWakeWordDetector(settings, seed=0)
            det.use_verifiers([verifier] if verifier else [])
            rows.setdefault(label, []).extend(wakeset.score_all(items, det))
        print(f"<!-- {voice}: {note}; {time.perf_counter() - t0:.0f} s -->", flush=True)
    n = len(rows["plain"])
    print(f"\n## Held-out set, speeds {args.speeds}, voices {len(voices)} ({n} clips per row), front end off\n")
    print("| model | threshold | clean | pink 10 dB | pink 5 dB | far | all | false wakes (near / talk) | per hour |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = {
        "plain": "plain",
        "verifier": "verifier",
        "verifier low": "verifier",
        "verifier asked early": f"verifier, asked from {args.ask}",
    }
    variants = (
        ("plain", default),
        ("plain", args.low),
        ("verifier", default),
        ("verifier low", args.low),
        ("verifier asked early", default),
    )
    for label, threshold in variants:
        scored = rows[label]
        summary = {r.condition: r for r in wakeset.summarize(scored, threshold)}
        near = sum(
            s.score >= threshold for s in scored if not s.sample.positive and s.sample.text in wakeset.NEAR_MISSES
        )
        talk = sum(s.score >= threshold for s in scored if not s.sample.positive and s.sample.text in wakeset.TALK)
        cells = " | ".join(f"{summary[c].found}/{summary[c].positives}" for c in wakeset.CONDITIONS)
        a = summary["all"]
        print(
            f"| {names[label]} | {threshold} | {cells} | {a.recall:.0%} | {near} / {talk} "
            f"| {a.false_wakes_per_hour:.0f} ({a.negative_seconds / 60:.0f} min) |"
        )
        missed = sorted(
            {(s.sample.voice, s.sample.condition) for s in scored if s.sample.positive and s.score < threshold}
        )
        woke = sorted(
            {
                (s.sample.text, s.sample.voice, s.sample.condition)
                for s in scored
                if not s.sample.positive and s.score >= threshold
            }
        )
        print(f"<!-- {label} {threshold}: missed {missed}; woke {woke} -->")
    print("\n" + "; ".join(notes))


if __name__ == "__main__":
    main()
