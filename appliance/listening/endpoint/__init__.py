"""The end of the user's turn: VAD pauses confirmed by a turn-detection model, as pure policy plus engines."""
