"""Earcons generated in code: no audio files to ship, and they work with no network."""

from __future__ import annotations

import numpy as np

RATE = 24_000


def _tone(freqs: list[tuple[float, float]], level: float = 0.35, rate: int = RATE) -> np.ndarray:
    """Concatenated sine notes (frequency Hz, seconds) with short raised-cosine fades (no clicks)."""
    parts = []
    for freq, seconds in freqs:
        n = int(rate * seconds)
        t = np.arange(n) / rate
        note = np.sin(2 * np.pi * freq * t) * 0.8 + 0.2 * np.sin(4 * np.pi * freq * t)
        fade = min(n // 4, int(rate * 0.01))
        if fade:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
            note[:fade] *= ramp
            note[-fade:] *= ramp[::-1]
        parts.append(note)
    x = np.concatenate(parts) * level
    return (x * 32767).astype(np.int16)


def chime() -> tuple[np.ndarray, int]:
    """Rising two-note chime: "I'm listening"."""
    return _tone([(880.0, 0.06), (1318.5, 0.08)]), RATE


def error_tone() -> tuple[np.ndarray, int]:
    """Falling two-note tone: something went wrong."""
    return _tone([(523.25, 0.12), (392.0, 0.18)], level=0.3), RATE


def offline_tone() -> tuple[np.ndarray, int]:
    """Three low notes: the cloud is unreachable."""
    return _tone([(440.0, 0.1), (349.2, 0.1), (293.7, 0.2)], level=0.3), RATE


def mute_tone(muted: bool) -> tuple[np.ndarray, int]:
    """Falling blip when the microphone is muted, rising when unmuted."""
    notes = [(660.0, 0.05), (440.0, 0.07)] if muted else [(440.0, 0.05), (660.0, 0.07)]
    return _tone(notes, level=0.25), RATE


def alarm() -> tuple[np.ndarray, int]:
    """A timer's alarm: three bright beeps and a rest (about 1.2 s), repeated while it rings. Loud and
    unlike every other earcon, so it is recognised across a kitchen."""
    beep = [(1760.0, 0.12), (0.0, 0.08)]
    x = _tone(beep * 3 + [(0.0, 0.5)], level=0.5)
    return x, RATE


def announce_chime() -> tuple[np.ndarray, int]:
    """Three rising notes before an announcement: "a message for you" (unlike the wake chime)."""
    return _tone([(659.3, 0.09), (784.0, 0.09), (1046.5, 0.16)], level=0.3), RATE


def volume_tone() -> tuple[np.ndarray, int]:
    """One short blip, played at the new volume after a volume command: the level is heard, not described."""
    return _tone([(784.0, 0.12)], level=0.3), RATE
