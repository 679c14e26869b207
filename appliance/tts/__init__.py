"""Text to speech: engines chosen by name (``tts.provider``), HTTP per sentence and streaming."""
