"""The audio front end between the microphone and everything that listens: echo cancellation, noise
suppression, high-pass and gain on 10 ms frames, and the gate that lets the wake word sleep in silence."""
