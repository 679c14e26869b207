"""How the appliance listens: the wake word, the end of the user's turn, voice activity ([wake], [endpoint], [vad])."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from appliance.config.types import Section, SettingsError, check_name, check_range


@dataclass
class WakeSettings(Section):
    engine: str = "openwakeword"
    """Wake word engine, by name; other packages add engines through the "appliance.wake" entry points."""
    models: tuple[str, ...] = ("hey_jarvis",)
    """Built-in names (hey_jarvis, alexa, hey_mycroft, hey_rhasspy, okay_nabu) or paths to .tflite/.onnx."""
    threshold: float = 0.5
    """Score (0..1) a model must reach to wake."""
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """Per-model thresholds, e.g. {hey_jarvis = 0.6}; others use `threshold`."""
    refractory_seconds: float = 2.0
    """After a wake, the same model cannot wake again for this long."""
    while_speaking: Literal["ignore", "boost"] = "boost"
    """Wake word while the appliance speaks: "ignore", or "boost" (needs threshold + speaking_boost)."""
    speaking_boost: float = 0.3
    """Added to the threshold while speaking, so the appliance does not wake on its own voice."""
    preroll_seconds: float = 0.5
    """Audio kept from before the wake word's end / the button press, so the first syllable is kept."""
    follow_up: bool = True
    """Listen again without the wake word when the answer ends in a question."""
    follow_up_seconds: float = 4.0
    """How long a follow-up waits for speech to start."""
    runtime: Literal["tflite", "onnx"] = "tflite"
    """Inference runtime for the models: "tflite" (LiteRT) or "onnx"."""
    verifier_threshold: float | None = None
    """With a verifier enrolled (`appliance enroll`): model score from which it judges; none = the threshold."""

    def validate(self) -> None:
        check_name("wake.engine", self.engine)
        if not self.models:
            raise SettingsError("wake.models: name at least one model")
        check_range("wake.threshold", self.threshold, 0.01, 1.0)
        for name, value in self.thresholds.items():
            check_range(f"wake.thresholds.{name}", value, 0.01, 1.0)
        check_range("wake.refractory_seconds", self.refractory_seconds, 0.0, 60.0)
        check_range("wake.speaking_boost", self.speaking_boost, 0.0, 1.0)
        check_range("wake.preroll_seconds", self.preroll_seconds, 0.0, 3.0)
        check_range("wake.follow_up_seconds", self.follow_up_seconds, 0.5, 30.0)
        if self.verifier_threshold is not None:
            check_range("wake.verifier_threshold", self.verifier_threshold, 0.01, 1.0)
            lowest = min([self.threshold, *self.thresholds.values()])
            if self.verifier_threshold > lowest:
                # a score between the two would wake without the verifier being asked
                raise SettingsError(
                    f"wake.verifier_threshold: {self.verifier_threshold} is above a wake threshold ({lowest}); "
                    "it must not exceed threshold or any of thresholds"
                )


@dataclass
class EndpointSettings(Section):
    vad_threshold: float = 0.5
    """Voice-activity probability above which a frame counts as speech."""
    trailing_silence: float = 0.7
    """Seconds of silence after speech that end the recording."""
    start_timeout: float = 5.0
    """If no speech starts within this many seconds, the turn ends quietly (no cloud request)."""
    max_seconds: float = 15.0
    """Hard cap on a recording; what was recorded is still sent."""
    min_speech_seconds: float = 0.15
    """Speech shorter than this (a click, a cough) does not start a question."""
    mode: Literal["semantic", "silence"] = "semantic"
    """"semantic": a short pause asks the turn-detection model (smart-turn) whether the question is finished;
    "silence": `trailing_silence` of silence ends it."""
    short_pause: float = 0.08
    """Semantic mode: the pause after speech before a "finished" verdict ends the question (the model is asked
    as soon as the VAD hears the last frame's tail fall silent, or at this pause)."""
    long_pause: float = 2.0
    """Semantic mode: the pause that ends the question anyway (the model said unfinished, or is missing)."""
    turn_threshold: float = 0.5
    """Semantic mode: the model's probability above which the question counts as finished."""
    turn_threads: int = 1
    """Threads the turn-detection model may use."""
    transcript_check: bool = True
    """Semantic mode with streaming transcription: a "finished" verdict waits for the transcript of the speech
    so far, and one that stops on a dangling word ("... like in") keeps listening."""
    transcript_wait: float = 0.6
    """Longest pause spent waiting for that transcript before the model's verdict stands alone."""

    def validate(self) -> None:
        check_range("endpoint.vad_threshold", self.vad_threshold, 0.05, 0.99)
        check_range("endpoint.short_pause", self.short_pause, 0.08, 1.0)
        check_range("endpoint.long_pause", self.long_pause, 0.5, 5.0)
        if self.long_pause < self.short_pause:
            raise SettingsError("endpoint.long_pause: must be at least endpoint.short_pause")
        check_range("endpoint.turn_threshold", self.turn_threshold, 0.05, 0.95)
        check_range("endpoint.turn_threads", self.turn_threads, 1, 4)
        check_range("endpoint.transcript_wait", self.transcript_wait, 0.08, 2.0)
        check_range("endpoint.trailing_silence", self.trailing_silence, 0.1, 5.0)
        check_range("endpoint.start_timeout", self.start_timeout, 0.5, 60.0)
        check_range("endpoint.max_seconds", self.max_seconds, 1.0, 120.0)
        check_range("endpoint.min_speech_seconds", self.min_speech_seconds, 0.0, 2.0)


@dataclass
class VadSettings(Section):
    """Its own section, not a key of [endpoint]: the voice-activity engine serves the listener as a whole
    (speech start, endpointing, barge-in), while ``endpoint.vad_threshold`` is the endpoint's own rule."""

    engine: str = "silero"
    """Voice-activity engine, by name; other packages add engines through the "appliance.vad" entry points."""

    def validate(self) -> None:
        check_name("vad.engine", self.engine)
