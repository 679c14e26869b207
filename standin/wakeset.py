"""A held-out wake-word set, made by code and seeded: several voices (piper's and espeak-ng variants other
than the plain en-us the unit tests use) at several speeds, each in four conditions (a quiet room, pink noise
at 10 and 5 dB SNR, a reverberant far field), and near misses plus ordinary talk for false wakes.

Only synthesis is cached (standin.voice's cache); noise and room responses are recomputed from the
seed, so a sample is fully described by its fields.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.frontend.base import FrontEnd
from appliance.ports import FRAME_SAMPLES, WakeDetectorWithScores
from standin.voice import RATE, _to_16k, _version, cache_dir, synth

WAKE = "hey jarvis"
NEAR_MISSES = ("hey travis", "hey jason", "where is Jarvis street", "hey marvin", "hey charlie")
TALK = (
    "Could you pass me the salt, please?",
    "I think the meeting starts at half past nine tomorrow.",
    "We should water the plants before we leave for the weekend.",
    "Did you see the game last night? It went to extra time.",
    "The bus was late again, so I walked to the station.",
    "Remind me to call my sister about the birthday party.",
)
#: piper's voice, then espeak-ng voices and variants (the unit tests use piper and plain espeak en-us)
VOICES = ("piper", "espeak:en-us+m3", "espeak:en-us+f2", "espeak:en-gb", "espeak:en-gb-scotland+m2", "espeak:en-us+f4")
SPEEDS = (0.85, 1.0, 1.2)
CONDITIONS = ("clean", "pink10", "pink5", "far")


@dataclass(frozen=True)
class Sample:
    text: str
    voice: str
    speed: float
    condition: str
    seed: int

    @property
    def positive(self) -> bool:
        return self.text == WAKE


def speech(text: str, voice: str, speed: float) -> np.ndarray:
    """16 kHz int16: piper through standin.voice, espeak-ng variants here (cached the same way)."""
    if voice == "piper":
        return synth(text, voice="piper", speed=speed)
    name = voice.removeprefix("espeak:")
    return _espeak(text, name, float(speed)).copy()


@functools.lru_cache(maxsize=512)
def _espeak(text: str, name: str, speed: float) -> np.ndarray:
    key = json.dumps([text, name, speed, _version("espeak"), "wakeset-1"])
    path = cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npy")
    if path.exists():
        pcm: np.ndarray = np.load(path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "e.wav"
            subprocess.run(
                ["espeak-ng", "-v", name, "-s", str(round(165 * speed)), "-w", str(out), "--", text],
                check=True,
                capture_output=True,
            )
            with wave.open(str(out), "rb") as w:
                rate = w.getframerate()
                audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        # espeak speaks ~10 dB quieter than piper: bring its peak to the same -1 dBFS
        audio = _to_16k(audio, rate)
        audio *= 0.89 * 32767 / max(1.0, float(np.abs(audio).max()))
        pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, pcm)
        os.replace(tmp_name, path)
    pcm.flags.writeable = False
    return pcm


def pink_noise(n: int, rms: float, seed: int) -> np.ndarray:
    """Seeded 1/f noise with the given RMS (float64)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return x * (rms / (float(np.sqrt(np.mean(x**2))) + 1e-12))


def room_response(rt60: float, seed: int, direct_to_reverb_db: float = -3.0) -> np.ndarray:
    """A seeded exponentially decaying noise tail after a direct path: a crude but reverberant far field."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * RATE)] = 0  # first reflections arrive a few ms after the direct sound
    tail *= 10 ** (-direct_to_reverb_db / 20) / (float(np.sqrt(np.sum(tail**2))) + 1e-12)
    tail[0] = 1.0
    return tail


def _voiced_rms(x: np.ndarray) -> float:
    win = RATE // 50
    n = len(x) // win
    frames = x[: n * win].reshape(n, win)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = rms[rms > rms.max() * 0.1]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 1.0


def render(sample: Sample, lead: float = 1.5, tail: float = 1.0) -> np.ndarray:
    """The sample as the microphone hears it (16 kHz int16), with ``lead`` s of the condition before it."""
    voice = speech(sample.text, sample.voice, sample.speed).astype(np.float64)
    pad = np.zeros(int(lead * RATE))
    x = np.concatenate([pad, voice, np.zeros(int(tail * RATE))])
    speech_rms = _voiced_rms(voice)
    floor = 32767 * 10 ** (-60 / 20)
    rng_seed = sample.seed * 7919
    if sample.condition == "far":
        x = np.convolve(x, room_response(0.6, rng_seed))[: len(x)] * 10 ** (-14 / 20)
        x += pink_noise(len(x), speech_rms * 10 ** (-14 / 20) / 10 ** (20 / 20), rng_seed + 1)
    elif sample.condition in ("pink10", "pink5"):
        snr = 10.0 if sample.condition == "pink10" else 5.0
        x += pink_noise(len(x), speech_rms / 10 ** (snr / 20), rng_seed + 1)
    elif sample.condition != "clean":
        raise ValueError(f"unknown condition {sample.condition!r}")
    x += np.random.default_rng(rng_seed + 2).normal(0, floor, len(x))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def samples(
    *,
    voices: tuple[str, ...] = VOICES,
    speeds: tuple[float, ...] = SPEEDS,
    conditions: tuple[str, ...] = CONDITIONS,
    negatives: tuple[str, ...] = NEAR_MISSES + TALK,
    seed: int = 0,
) -> list[Sample]:
    """Every (text, voice, speed, condition), each with its own seed."""
    out = []
    for i, (text, voice, speed, condition) in enumerate(
        (t, v, s, c) for t in (WAKE, *negatives) for v in voices for s in speeds for c in conditions
    ):
        out.append(Sample(text, voice, speed, condition, seed * 100_000 + i))
    return out


@dataclass(frozen=True)
class Scored:
    sample: Sample
    score: float  # the best score of the wake model over the clip
    seconds: float


def score_all(
    items: list[Sample],
    detector: WakeDetectorWithScores,
    model: str = "hey_jarvis",
    frontend: Callable[[], FrontEnd] | None = None,
) -> list[Scored]:
    """Each clip through a fresh front end (when given) and the reset detector; the best score is kept, so
    recall and false wakes at any threshold follow from one run."""
    out = []
    for item in items:
        audio = render(item)
        fe = frontend() if frontend is not None else None
        detector.reset()
        best = 0.0
        for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            frame = audio[i : i + FRAME_SAMPLES]
            if fe is not None:
                frame = fe.process(frame)
            detector.process(frame)
            best = max(best, float(detector.last_scores[model]))
        out.append(Scored(item, best, len(audio) / RATE))
    return out


@dataclass(frozen=True)
class Summary:
    condition: str
    found: int
    positives: int
    false_wakes: int
    negative_seconds: float

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else float("nan")

    @property
    def false_wakes_per_hour(self) -> float:
        return self.false_wakes * 3600 / self.negative_seconds if self.negative_seconds else float("nan")


def summarize(scored: list[Scored], threshold: float) -> list[Summary]:
    """Recall and false wakes per condition (and "all") at ``threshold``: a negative clip whose best score
    reaches the threshold is one false wake."""
    rows = []
    for condition in (*dict.fromkeys(s.sample.condition for s in scored), "all"):
        mine = [s for s in scored if condition in ("all", s.sample.condition)]
        pos = [s for s in mine if s.sample.positive]
        neg = [s for s in mine if not s.sample.positive]
        rows.append(
            Summary(
                condition,
                sum(s.score >= threshold for s in pos),
                len(pos),
                sum(s.score >= threshold for s in neg),
                sum(s.seconds for s in neg),
            )
        )
    return rows
