"""Speech in (OpenAI transcription) and out (ElevenLabs streaming TTS, pipelined playback, cached phrases)."""
