"""Moved to :mod:`appliance.tts.elevenlabs` (kept for code that still imports it from here)."""

from ..tts.elevenlabs import DEFAULT_BASE_URL, ElevenLabsSynth, classify_status

__all__ = ["DEFAULT_BASE_URL", "ElevenLabsSynth", "classify_status"]
