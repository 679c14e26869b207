"""Benchmark of wake arbitration in a household (issue #30): does the right device answer, and how late?

    uv run python scripts/bench_household.py                # 40 trials per row (~25 min on a shared 2-core machine)
    uv run python scripts/bench_household.py --trials 10    # a first look

Each trial is one "hey Jarvis" (piper or espeak, seeded speed and wording) heard by three devices: the nearest
at a random level, the second ``diff`` dB quieter, the third 0-6 dB quieter still, each with its own room
noise (-60..-50 dBFS). Every device runs the real wake model (openWakeWord) frame by frame on its own audio;
the trial then replays the frames around the first wake word in real time to three Household services in
this process (each with its own socket on real loopback multicast), as the app feeds them: the level meter,
then a claim on the device's own wake word, or its model's score (a device that heard another's claimed wake
word too, louder, claims it as well: ``household.heard_too_score``; ``--only-own-wake`` turns that off).
Counted: the right device answers alone; double answers; nobody answers (must be 0); the winner's wait (the
first device's wake word to the winner's decision: what the first audio is late by); with 10 % and 30 % of
datagrams lost; and what the household sends and costs while idle.

Goals: right device >= 98 % at >= 3 dB; no double answer without loss; winner's wait <= 150 ms; nothing sent
while idle.
"""

from __future__ import annotations

import argparse
import queue
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config.household import HouseholdSettings  # noqa: E402
from appliance.config.settings import WakeSettings  # noqa: E402
from appliance.household.service import Household  # noqa: E402
from appliance.ports import FRAME_SAMPLES  # noqa: E402
from appliance.wake.oww import OpenWakeWordDetector  # noqa: E402
from standin.voice import concat, noise, synth  # noqa: E402

TEXTS = ["Hey Jarvis!", "Hey Jarvis, what time is it?", "Hey Jarvis, turn on the kitchen lights."]
SECRET = "bench household secret, long enough"
NAMES = ("a", "b", "c")


@dataclass
class Heard:
    """One device's microphone in a trial: its 80 ms frames, its wake model's best score on each, and the frame
    its model fired on (None: it never did)."""

    device: str
    frames: list[np.ndarray]
    scores: list[float]
    fired: int | None


def hear(detector: OpenWakeWordDetector, device: str, audio: np.ndarray) -> Heard:
    detector.reset()
    frames, scores, fired = [], [], None
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[i : i + FRAME_SAMPLES]
        hit = detector.process(frame)
        frames.append(frame)
        scores.append(max(detector.last_scores.values()))
        if hit is not None and fired is None:
            fired = len(frames) - 1
    return Heard(device, frames, scores, fired)


def trial_audio(seed: int, diff: float, detector: OpenWakeWordDetector) -> tuple[list[Heard], str]:
    rng = np.random.default_rng(seed)
    speech = synth(TEXTS[seed % len(TEXTS)], voice=("piper", "espeak")[seed % 2], speed=float(rng.uniform(0.9, 1.1)))
    near = float(rng.uniform(-14, -2))
    gains = [near, near - diff, near - diff - float(rng.uniform(0, 6))]
    order = rng.permutation(3)  # which device is the nearest: not always the same id
    heard = []
    for slot, name in zip(order, NAMES, strict=True):
        floor = float(rng.uniform(-60, -50))
        voice = np.round(speech.astype(np.float64) * 10 ** (gains[slot] / 20))
        body = np.clip(voice + noise(len(speech) / 16000, floor, seed=seed * 10 + slot), -32768, 32767)
        audio = concat(noise(1.0, floor, seed=seed * 10 + slot + 5), body.astype(np.int16), noise(0.5, floor))
        heard.append(hear(detector, name, audio))
    return heard, NAMES[list(order).index(0)]


FRAME_S = FRAME_SAMPLES / 16000
AFTER = 4  # frames replayed in real time after the first device's model fired


class Bench:
    def __init__(self, port: int, loss: float = 0.0, heard_too: bool = True) -> None:
        self.decisions: queue.Queue[tuple[str, bool, float]] = queue.Queue()
        self.devices = {}
        for name in NAMES:
            settings = HouseholdSettings(
                enabled=True,
                port=port,
                interface="127.0.0.1",
                simulate_loss=loss,
                heard_too_score=HouseholdSettings.heard_too_score if heard_too else 0.0,
            )
            self.devices[name] = Household(
                settings, SECRET, self._decided(name), lambda heard: "", device=name, seed=hash(name) % 1000
            ).start()
        self.woke: dict[str, float] = {}

    def _decided(self, name: str):  # noqa: ANN202
        def got(decision) -> None:  # noqa: ANN001
            self.decisions.put((name, decision.won, time.monotonic() - self.woke[name]))

        return got

    def run(self, heard: list[Heard]) -> tuple[set[str], list[float]]:
        """Every device hears its frames as the app does (the level meter, then its wake model: a wake word
        claims; no wake word offers the score, and a device that heard another's claim too claims it); the
        frames up to the one before the first wake word are fed at once, the rest in real time, 80 ms apart.
        Who answers, and the winners' waits from the first wake word."""
        first = min((h.fired for h in heard if h.fired is not None), default=None)
        if first is None:
            return set(), []
        start = max(0, first - 1)
        for h in heard:
            house = self.devices[h.device]
            for i in range(start):
                house.hear(h.frames[i])
                house.scored(h.scores[i])
        began = time.monotonic() + 0.02
        claimed: list[str] = []
        lock = threading.Lock()

        def device(h: Heard) -> None:
            house = self.devices[h.device]
            for i in range(start, min(len(h.frames), first + AFTER + 1)):
                delay = began + (i - start) * FRAME_S - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                house.hear(h.frames[i])
                if i == h.fired or house.scored(h.scores[i]):
                    self.woke[h.device] = began + (first - start) * FRAME_S  # the first wake word's moment
                    with lock:
                        claimed.append(h.device)
                    house.claim(h.scores[i])
                    return

        threads = [threading.Thread(target=device, args=(h,)) for h in heard]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners, waits = set(), []
        for _ in claimed:
            name, won, wait = self.decisions.get(timeout=5)
            if won:
                winners.add(name)
                waits.append(wait * 1000)
        time.sleep(0.8)  # the next wake word is another one (claims match within 0.75 s)
        return winners, waits

    def close(self) -> None:
        for d in self.devices.values():
            d.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def idle(seconds: float) -> tuple[int, float]:
    bench = Bench(free_port())
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    sent = sum(d.transport.bytes_sent for d in bench.devices.values())
    bench.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / (t1 - t0) / len(NAMES)
    return sent, cpu * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--diffs", type=float, nargs="*", default=[1.0, 2.0, 3.0, 6.0])
    parser.add_argument("--losses", type=float, nargs="*", default=[0.0, 0.1, 0.3])
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument(
        "--only-own-wake", action="store_true", help="household.heard_too_score = 0: only a device that woke claims"
    )
    args = parser.parse_args()
    detector = OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0))
    print(
        f"# bench_household: {args.trials} seeded trials per row, 3 devices on loopback multicast, "
        + ("only devices that woke claim" if args.only_own_wake else "devices that heard it too claim")
    )
    print(
        "| level difference | datagrams lost | right device | double answers | nobody | missed wake | "
        "winner's wait p50 / p95 / max (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for loss in args.losses:
        for diff in args.diffs if loss == 0 else [3.0]:
            bench = Bench(free_port(), loss, heard_too=not args.only_own_wake)
            right = double = nobody = missed = 0
            waits: list[float] = []
            for n in range(args.trials):
                heard, nearest = trial_audio(1000 + n, diff, detector)
                if nearest not in {h.device for h in heard if h.fired is not None}:
                    missed += 1  # the wake model missed the nearest device's wake word (not arbitration)
                winners, wait = bench.run(heard)
                waits += wait
                right += winners == {nearest}
                double += len(winners) > 1
                nobody += any(h.fired is not None for h in heard) and not winners
            bench.close()
            trials = args.trials
            p = np.percentile(waits, [50, 95]) if waits else [0, 0]
            print(
                f"| {diff:g} dB | {loss:.0%} | {right}/{trials} ({right / trials:.0%}) | {double} | {nobody} | "
                f"{missed} | {p[0]:.0f} / {p[1]:.0f} / {max(waits, default=0):.0f} |",
                flush=True,
            )
    sent, cpu = idle(args.idle)
    print(f"\nidle {args.idle:g} s, three devices: {sent} bytes sent; {cpu:.2f} % of a core per device")


if __name__ == "__main__":
    main()
