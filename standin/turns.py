"""Synthesized questions for end-of-turn tests and benchmarks: complete ones, ones with a thinking pause inserted
mid-sentence, and pauses filled with noise. Shared by tests/test_turn_detection.py and scripts/bench_endpoint.py.

A pause is cut into the synthesis of the *whole* sentence, at the quietest point near the word boundary: a fragment
synthesized on its own ("What is the weather like in") comes out with the falling pitch of a finished sentence,
which is not what a person who stops to think sounds like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.listening.endpoint.detector import TurnDetector
from standin.voice import RATE, concat, noise, room, synth, voiced_span

COMPLETE = (
    "What is the weather like in Paris today?",
    "What time is it?",
    "Turn off the kitchen lights.",
    "Tell me a joke.",
    "How tall is Mount Everest?",
    "Set a timer for ten minutes.",
    "Who wrote the book Dune?",
)

#: (sentence, the words before the pause)
PAUSED = (
    ("What is the weather like in Paris today?", "What is the weather like"),
    ("Can you set a timer for ten minutes?", "Can you set a timer for"),
    ("Remind me to call my mother tomorrow.", "Remind me to call"),
    ("What is the capital of France?", "What is the capital of"),
)


@dataclass(frozen=True)
class Sample:
    name: str
    voice: str
    pcm: npt.NDArray[np.int16]
    speech_end: float
    """Seconds into ``pcm`` where the last word ends (from the audio itself)."""
    pause: tuple[float, float] | None = None
    """(start, end) of the inserted pause, if any."""
    text: str = ""
    """What is said, whole."""
    before: str = ""
    """The words before the inserted pause (empty without one)."""

    def heard(self, t: float) -> str:
        """An ideal transcript of the speech up to ``t`` s into ``pcm``: the words before the pause until the pause
        ends, then the whole sentence (what a transcriber would have, without its errors)."""
        if self.pause is not None and self.before and t < self.pause[1]:
            return self.before
        return self.text


def _cut_point(full: npt.NDArray[np.int16], prefix_seconds: float, search: float = 0.2) -> int:
    """The quietest 10 ms within ``search`` s of where the prefix ends in the full sentence."""
    win = RATE // 100
    centre = int(prefix_seconds * RATE)
    lo, hi = max(0, centre - int(search * RATE)), min(len(full) - win, centre + int(search * RATE))
    starts = np.arange(lo, hi, win // 2)
    energy = [float(np.mean(full[s : s + win].astype(np.float64) ** 2)) for s in starts]
    return int(starts[int(np.argmin(energy))] + win // 2)


def complete(text: str, voice: str = "piper", *, seed: int = 0, tail: float = 2.5) -> Sample:
    pcm = room(synth(text, voice=voice), seed=seed, tail=tail)
    return Sample(text, voice, pcm, voiced_span(pcm, -45.0)[1], text=text)


def paused(
    sentence: str,
    before: str,
    pause: float,
    voice: str = "piper",
    *,
    fill_db: float = -60.0,
    seed: int = 0,
    tail: float = 2.5,
) -> Sample:
    """``sentence`` with ``pause`` s of noise at ``fill_db`` dBFS inserted after the words ``before``."""
    full = synth(sentence, voice=voice)
    start, _ = voiced_span(full, -45.0)
    prefix = synth(before, voice=voice)
    p_start, p_end = voiced_span(prefix, -45.0)
    cut = _cut_point(full, start + (p_end - p_start))
    gap = noise(pause, fill_db, seed=seed + 7)
    body = concat(full[:cut], gap, full[cut:])
    lead = 0.6
    pcm = room(body, seed=seed, lead=lead, tail=tail)
    name = f"{before} ... {sentence[len(before) :].strip()}"
    at = lead + cut / RATE
    return Sample(name, voice, pcm, voiced_span(pcm, -45.0)[1], (at, at + pause), sentence, before)


def with_noise_in_pause(sample: Sample, level_db: float = -35.0, bursts: int = 3, seed: int = 0) -> Sample:
    """``sample``'s pause with bursts of louder noise (a door, a fan switching) that the VAD may call speech."""
    assert sample.pause is not None
    pcm = sample.pcm.copy()
    rng = np.random.default_rng(seed)
    a, b = sample.pause
    for i in range(bursts):
        at = int((a + (b - a) * (i + 0.5) / bursts) * RATE)
        burst = noise(0.08, level_db, seed=seed + i)
        pcm[at : at + len(burst)] = np.clip(pcm[at : at + len(burst)].astype(np.int32) + burst, -32768, 32767)
    del rng
    return Sample(
        sample.name + " (noise in the pause)",
        sample.voice,
        pcm,
        sample.speech_end,
        sample.pause,
        sample.text,
        sample.before,
    )


def endpoint(sample: Sample, detector: TurnDetector, *, transcript: float | None = None) -> TurnDetector:
    """Run ``sample`` through Silero VAD and ``detector`` until the turn ends. With ``transcript`` (seconds of
    audio), the policy's requests for the transcript are answered that much later from :meth:`Sample.heard`:
    an ideal transcriber with that latency (the policy must hold for text)."""
    from appliance.listening.endpoint.policy import Action
    from appliance.listening.endpoint.text import reads_unfinished
    from appliance.listening.vad import SileroVad
    from appliance.ports import FRAME_SAMPLES

    vad = SileroVad()
    pcm = sample.pcm
    due: list[tuple[float, str, int]] = []  # (audio time it arrives, text, pause_id)
    t = 0.0

    def request(pause_id: int) -> bool:
        if transcript is None:
            return False
        due.append((t + transcript, sample.heard(t), pause_id))
        return True

    detector.request_text = request
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = pcm[i : i + FRAME_SAMPLES]
        t = (i + FRAME_SAMPLES) / RATE
        speech = vad.speech_probability(frame) > 0.5
        action = detector.process(frame, speech, tail_silent=vad.tail_probability() <= 0.5)
        while action is not Action.END and due and due[0][0] <= t + 1e-9:
            _, text, pause_id = due.pop(0)
            action = detector.policy.text(reads_unfinished(text), pause_id)
        if action is Action.END:
            break
    return detector
