"""Augmentation, numpy only and seeded: other speakers' voices (a band-limited resampling that moves pitch and
formants together), simulated rooms (a shoebox image-source model with a diffuse tail), coloured noise, mains
hum and fan tones, babble of several synthetic talkers, and gain."""

from __future__ import annotations

import numpy as np

RATE = 16000
SPEED_OF_SOUND = 343.0


def coloured_noise(n: int, rng: np.random.Generator, colour: str) -> np.ndarray:
    """Unit-RMS noise: white, pink (1/f), brown (1/f^2) or blue (f)."""
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1] if n > 2 else 1.0
    exponent = {"white": 0.0, "pink": -0.5, "brown": -1.0, "blue": 0.5}[colour]
    spectrum *= f**exponent
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return (x / (float(np.sqrt(np.mean(x**2))) + 1e-12)).astype(np.float32)


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS mains hum (50 or 60 Hz and harmonics) or a fan (a tone plus broadband noise)."""
    t = np.arange(n) / RATE
    base = float(rng.choice([50.0, 60.0, rng.uniform(90, 400)]))
    x = np.zeros(n)
    for k in range(1, 6):
        x += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    x += rng.uniform(0.05, 0.5) * coloured_noise(n, rng, "brown")
    return (x / (float(np.sqrt(np.mean(x**2))) + 1e-12)).astype(np.float32)


def warp(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` as a talker with a vocal tract ``factor`` times shorter would say it: pitch and formants times
    ``factor``, duration divided by it (band-limited FFT resampling; 1.15 makes a man's voice sound like a
    woman's formants, 0.87 a deeper voice). The same as reading the audio at ``factor`` times its rate."""
    n = len(x)
    m = max(2, int(round(n / factor)))
    spectrum = np.fft.rfft(x.astype(np.float64))
    keep = m // 2 + 1
    if keep <= len(spectrum):
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - len(spectrum), spectrum.dtype)])
    y = np.fft.irfft(spectrum, m) * (m / n)
    return y.astype(np.float32)


def room_impulse(rng: np.random.Generator, distance: tuple[float, float] = (0.5, 5.0)) -> np.ndarray:
    """A shoebox room's impulse response: image sources up to order 6 for the early reflections, then an
    exponentially decaying diffuse tail at the room's RT60 (Sabine). Room 3-9 x 3-8 x 2.4-3.2 m."""
    dims = np.array([rng.uniform(3, 9), rng.uniform(3, 8), rng.uniform(2.4, 3.2)])
    absorption = rng.uniform(0.15, 0.6)
    volume, surface = float(np.prod(dims)), 2 * float(dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])
    rt60 = float(np.clip(0.161 * volume / (surface * absorption), 0.15, 1.2))
    mic = dims * rng.uniform(0.2, 0.8, 3)
    mic[2] = rng.uniform(0.7, 1.5)
    want = rng.uniform(*distance)
    direction = rng.normal(0, 1, 3)
    direction[2] *= 0.2
    direction /= np.linalg.norm(direction)
    source = np.clip(mic + direction * want, 0.2, dims - 0.2)
    beta = np.sqrt(1 - absorption)
    length = int(rt60 * RATE)
    h = np.zeros(length)
    order = 6
    r = np.arange(-order, order + 1)
    for dx in r:
        for dy in r:
            for dz in r:
                if abs(dx) + abs(dy) + abs(dz) > order:
                    continue
                image = np.empty(3)
                reflections = 0
                for axis, k in enumerate((dx, dy, dz)):
                    image[axis] = k * dims[axis] + (source[axis] if k % 2 == 0 else dims[axis] - source[axis])
                    reflections += int(abs(k))
                dist = float(np.linalg.norm(image - mic))
                i = int(round(dist / SPEED_OF_SOUND * RATE))
                if i < length:
                    h[i] += beta**reflections / max(dist, 0.1)
    direct = int(round(float(np.linalg.norm(source - mic)) / SPEED_OF_SOUND * RATE))
    t = np.arange(length) / RATE
    tail = rng.normal(0, 1, length) * np.exp(-6.9 * t / rt60)
    tail[: direct + int(0.01 * RATE)] = 0
    early_energy = float(np.sum(h**2))
    tail *= np.sqrt(early_energy * rng.uniform(0.5, 2.0) / (float(np.sum(tail**2)) + 1e-12))
    h = h + tail
    h = h[direct:]  # the direct path first: the delay itself carries nothing
    out: np.ndarray = (h / (np.abs(h).max() + 1e-12)).astype(np.float32)
    return out


def reverberate(x: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """``x`` through ``impulse`` (FFT convolution), same length as ``x``."""
    n = len(x) + len(impulse) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(impulse, size), size)[: len(x)]
    return y.astype(np.float32)


def rms(x: np.ndarray) -> float:
    """RMS of the loud part (20 ms windows within 20 dB of the loudest): speech level without its pauses."""
    win = RATE // 50
    n = len(x) // win
    if n == 0:
        return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    frames = np.sqrt(np.mean(np.square(x[: n * win].reshape(n, win)), axis=1))
    loud = frames[frames > frames.max() * 0.1]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0


def babble(n: int, rng: np.random.Generator, talkers: list[np.ndarray], count: int) -> np.ndarray:
    """Unit-RMS babble: ``count`` talkers (random clips of ``talkers``) at random levels and offsets."""
    out = np.zeros(n, dtype=np.float32)
    for _ in range(count):
        clip = talkers[int(rng.integers(len(talkers)))]
        if len(clip) < n:
            clip = np.tile(clip, n // max(1, len(clip)) + 1)
        start = int(rng.integers(0, len(clip) - n + 1))
        piece = clip[start : start + n]
        out += piece / (rms(piece) + 1e-9) * rng.uniform(0.5, 1.0)
    return out / (float(np.sqrt(np.mean(out**2))) + 1e-12)


def augment(
    speech: np.ndarray,
    rng: np.random.Generator,
    talkers: list[np.ndarray],
    *,
    strength: float = 1.0,
) -> np.ndarray:
    """One random acoustic condition applied to ``speech`` (float, same length): a room on about half, a
    noise (coloured, hum, babble, or a mix) at 0-25 dB SNR on most, then a level from -35 to -1 dBFS peak.
    ``strength`` 0 gives a clean copy at a random level."""
    x = speech.astype(np.float32)
    level = rms(x)
    if strength > 0 and rng.random() < 0.5:
        far = rng.random() < 0.5
        x = reverberate(x, room_impulse(rng, (2.0, 5.0) if far else (0.5, 2.0)))
    if strength > 0 and rng.random() < 0.85:
        n = len(x)
        kind = rng.choice(["pink", "white", "brown", "blue", "hum", "babble", "babble", "mix"])
        if kind == "hum":
            noise = hum(n, rng)
        elif kind == "babble" and talkers:
            noise = babble(n, rng, talkers, int(rng.integers(3, 8)))
        elif kind == "mix" and talkers:
            noise = 0.7 * babble(n, rng, talkers, int(rng.integers(2, 6))) + 0.7 * coloured_noise(n, rng, "pink")
        else:
            noise = coloured_noise(n, rng, str(kind) if kind in ("pink", "white", "brown", "blue") else "pink")
        snr = rng.uniform(0, 25) if kind != "babble" else rng.uniform(0, 20)
        x = (x + noise * (rms(x) or level) / 10 ** (snr / 20)).astype(np.float32)
    x = x + rng.normal(0, 1, len(x)).astype(np.float32) * 10 ** (-75 / 20) * float(np.abs(x).max() + 1e-9)
    peak_db = rng.uniform(-35, -1)
    return (x / (float(np.abs(x).max()) + 1e-9) * 10 ** (peak_db / 20)).astype(np.float32)
