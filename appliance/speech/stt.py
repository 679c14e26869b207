"""Moved to :mod:`appliance.stt.openai` (kept for branches that still import it from here)."""

from ..stt.openai import OpenAITranscriber, is_empty, to_wav

__all__ = ["OpenAITranscriber", "is_empty", "to_wav"]
