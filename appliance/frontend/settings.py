"""Settings of the audio front end (the `[frontend]` table), kept beside the code that reads them until
appliance/settings.py adopts them as a section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FrontEndSettings:
    enabled: bool = True
    """Run the WebRTC audio processing at all (false = microphone frames pass through untouched)."""
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

    def validate(self) -> None:
        if not 0 <= self.reference_delay_ms <= 500:
            raise ValueError(f"frontend.reference_delay_ms: {self.reference_delay_ms} is not within 0..500")
        if not -120.0 <= self.idle_bypass_db <= 0.0:
            raise ValueError(f"frontend.idle_bypass_db: {self.idle_bypass_db} is not within -120..0")
