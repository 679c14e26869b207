#!/usr/bin/env python3
"""Endpointing on the synthesized sets: how long after the end of speech the turn ends, why, and what each
model decision costs (features + onnxruntime), printed as tables.

    uv run python scripts/bench_endpoint.py [--threads 1] [--short-pause 0.08] [--long-pause 2.0]

"wait" is measured from the audio (the last word's end, found in the waveform) to the frame at which the turn
ended, in audio time; model time is wall time on this machine and comes on top when the model runs on the
listener's thread. Each set runs twice: the model alone (batch transcription), and with the transcript check
that streaming transcription allows, fed here an ideal transcript (the words spoken by then) 0.3 s after it is
asked for, so the figure is the policy's, not a transcriber's. The end-to-end benchmark is scripts/bench_latency.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.listening.endpoint.detector import TurnDetector  # noqa: E402
from appliance.listening.endpoint.policy import TurnPolicy  # noqa: E402
from appliance.listening.endpoint.smart_turn import SmartTurn  # noqa: E402
from standin.turns import COMPLETE, PAUSED, Sample, complete, endpoint, paused, with_noise_in_pause  # noqa: E402

VOICES = ("piper", "espeak")
STT_S = 0.3  # the ideal transcript's latency (the issues' injected transcription time)


def run(sample: Sample, model: SmartTurn | None, short: float, long: float, transcript: bool = False) -> TurnDetector:
    policy = TurnPolicy(short_pause=short, long_pause=long, hold_for_text=transcript)
    return endpoint(sample, TurnDetector(policy, model), transcript=STT_S if transcript else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short-pause", type=float, default=0.08)
    parser.add_argument("--long-pause", type=float, default=2.0)
    args = parser.parse_args()
    model = SmartTurn(threads=args.threads)
    model.predict(complete("What time is it?").pcm)  # first run allocates

    costs: list[tuple[float, float, float]] = []
    print(
        f"short pause {args.short_pause:.2f} s, long pause {args.long_pause:.2f} s, onnxruntime threads "
        f"{args.threads}\n"
    )
    print("## Complete questions (wait = end of speech in the audio -> end of turn)\n")
    print("| voice | question | wait ms | reason | p(complete) | with transcript: wait ms | reason |")
    print("|---|---|---:|---|---:|---:|---|")
    waits: list[float] = []
    checked: list[float] = []
    for voice in VOICES:
        for text in COMPLETE:
            s = complete(text, voice)
            d = run(s, model, args.short_pause, args.long_pause)
            r = d.result
            t = run(s, model, args.short_pause, args.long_pause, True).result
            assert r is not None and t is not None
            costs += [(v.features_ms, v.model_ms, v.cpu_ms) for v in d.verdicts]
            wait = (r.at - s.speech_end) * 1000
            waits.append(wait)
            checked.append((t.at - s.speech_end) * 1000)
            p = f"{r.probability:.2f}" if r.probability is not None else "-"
            print(f"| {voice} | {text} | {wait:.0f} | {r.reason.value} | {p} | {checked[-1]:.0f} | {t.reason.value} |")
    for name, xs in (("model alone", waits), ("with the transcript check", checked)):
        print(
            f"\n{name}: median wait {statistics.median(xs):.0f} ms; {sum(w <= 400 for w in xs)}/{len(xs)} within "
            f"400 ms; {sum(w <= 300 for w in xs)}/{len(xs)} within 300 ms"
        )
    print()

    print("## Questions with a pause mid-sentence (cut = the turn ended inside the pause)\n")
    print("| voice | question | pause s | fill | ended | wait ms after speech | p at the pause | with transcript |")
    print("|---|---|---:|---|---|---:|---:|---|")
    cut = total = cut_checked = 0
    for voice in VOICES:
        for sentence, before in PAUSED:
            for pause in (1.0, 1.5):
                for fill, make in (("room -60 dB", None), ("noise bursts -35 dB", "bursts")):
                    s = paused(sentence, before, pause, voice, fill_db=-60.0)
                    if make:
                        s = with_noise_in_pause(s, -35.0)
                    d = run(s, model, args.short_pause, args.long_pause)
                    r = d.result
                    t = run(s, model, args.short_pause, args.long_pause, True).result
                    assert r is not None and t is not None
                    costs += [(v.features_ms, v.model_ms, v.cpu_ms) for v in d.verdicts]
                    was_cut = r.at <= s.speech_end
                    cut += was_cut
                    cut_checked += t.at <= s.speech_end
                    total += 1
                    p = f"{d.verdicts[0].probability:.2f}" if d.verdicts else "-"
                    ended = "CUT" if was_cut else r.reason.value
                    ended_checked = (
                        "CUT" if t.at <= s.speech_end else f"{t.reason.value}, {(t.at - s.speech_end) * 1000:.0f} ms"
                    )
                    print(
                        f"| {voice} | {s.name.replace(' (noise in the pause)', '')} | {pause:.1f} | {fill} "
                        f"| {ended} | {(r.at - s.speech_end) * 1000:.0f} | {p} | {ended_checked} |"
                    )
    print(
        f"\nmodel alone: {total - cut}/{total} paused questions kept whole; with the transcript check: "
        f"{total - cut_checked}/{total}\n"
    )

    feats = sorted(c[0] for c in costs)
    infer = sorted(c[1] for c in costs)
    both = sorted(c[0] + c[1] for c in costs)
    cpu = sorted(c[2] for c in costs)

    def pct(xs: list[float], q: float) -> float:
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    print("## Model time per decision (this machine)\n")
    print("| part | median ms | p90 ms | max ms |")
    print("|---|---:|---:|---:|")
    rows = (
        ("features (numpy log-mel), wall", feats),
        ("onnxruntime, wall", infer),
        ("total, wall", both),
        ("total, CPU time of the thread", cpu),
    )
    for name, xs in rows:
        print(f"| {name} | {statistics.median(xs):.1f} | {pct(xs, 0.9):.1f} | {max(xs):.1f} |")
    load = os.getloadavg()[0]
    print(
        f"\n{len(costs)} decisions; {os.cpu_count()} cores, load average {load:.1f} (wall includes waiting for a core)"
    )


if __name__ == "__main__":
    main()
