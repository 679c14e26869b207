"""Settings of the audio front end: the `[frontend]` section of appliance/config/settings.py, kept beside the code
that reads them."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config.types import Section, check_range


@dataclass
class FrontEndSettings(Section):
    enabled: bool = False
    """Run the WebRTC audio processing (echo cancellation with the speaker's output as reference, noise
    suppression, high-pass, gain) on the microphone. With it on, the wake word keeps its normal threshold while
    the appliance speaks, the user barges in by voice (with `barge_in`: 10 of 10 here) and it never woke on its
    own voice. Off by default: it costs ~4 % of a core here while the appliance speaks (plus ~6 % for the
    barge-in's two detectors; several times that on a Pi 4) and ~2 % more while people talk, and it did not
    raise wake-word recall in noise (docs/wake-word.md). Turn it on where the speaker is loud and close to the
    microphone, or to talk over the answers."""
    echo_cancellation: bool = True
    """Subtract what the speaker plays (the reference) from the microphone."""
    noise_suppression: bool = True
    high_pass: bool = True
    """Remove rumble and DC below ~80 Hz."""
    auto_gain: bool = False
    """WebRTC's automatic gain control. Off by default: on the wake-word set it changed recall by less than
    the noise of the measurement and it lifts the echo residue while the appliance speaks (docs/wake-word.md)."""
    reference_delay_ms: int = 0
    """How long after the speaker is handed a sound its echo reaches the microphone (output buffers, the
    sound server, the air). The starting value; with `measure_delay` the front end measures it during the
    first seconds of playback and uses that. AEC3 itself only finds delays of up to a few hundred ms."""
    measure_delay: bool = True
    """Measure the reference's delay from the audio (cross-correlation during playback)."""
    idle_bypass_db: float = -50.0
    """A frame quieter than this (dBFS, RMS of the first difference, as the wake-word gate measures) while
    nothing is being played skips the processing entirely: a quiet room costs almost nothing. -120 disables
    the bypass."""

    barge_in: bool = True
    """While the appliance speaks, also listen for the wake word on the microphone before the front end, and
    ignore a wake there when what the speaker plays said the wake word itself (a second detector listens to
    it). The echo canceller's suppressor damps a user who talks over the answer; this hears them anyway. It
    costs two more wake-word models, only while the appliance makes sound."""

    wake_gate: bool = True
    """Let the wake-word model sleep in a quiet room: a cheap level gate wakes it and replays the last 2 s,
    so a wake word at the very start of speech is still heard (idle CPU ~0.1 % of a core instead of ~4 %)."""

    def validate(self) -> None:
        check_range("frontend.reference_delay_ms", self.reference_delay_ms, 0, 500)
        check_range("frontend.idle_bypass_db", self.idle_bypass_db, -120.0, 0.0)
