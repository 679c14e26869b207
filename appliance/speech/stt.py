"""Transcription of the recorded question with OpenAI's transcription endpoint (a WAV made in memory)."""

from __future__ import annotations

import io
import logging
import re
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ..cancel import CancelToken
from ..errors import Cancelled
from ..ports import SAMPLE_RATE
from ..retry import RetryPolicy
from ..settings import AssistantSettings, Secrets, SttSettings

log = logging.getLogger(__name__)

#: Transcripts that mean nobody said anything (models sometimes return these for noise).
_NOISE = re.compile(r"^\W*(\[?(inaudible|silence|noise|music|blank_audio|no speech)\]?|you|thank you|"
                    r"thanks for watching|uh+|um+|hmm+|mm+)\W*$", re.IGNORECASE)


def to_wav(pcm: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def is_empty(text: str) -> bool:
    """True for an empty, punctuation-only or noise-marker transcript."""
    stripped = text.strip()
    return not stripped or not re.search(r"\w", stripped) or bool(_NOISE.match(stripped))


class OpenAITranscriber:
    """ports.Transcriber. Retries are ours (RetryPolicy, sleeping on the cancel token), not the SDK's, so
    a stop is honoured at once and the whole transcription stays within ``settings.timeout`` x attempts."""

    def __init__(self, settings: SttSettings, secrets: Secrets, *, client: Any = None,
                 debug_dir: str | Path | None = None, policy: RetryPolicy | None = None) -> None:
        from ..llm.client import make_openai_client, make_timeout

        self.settings = settings
        self.debug_dir = Path(debug_dir) if debug_dir else None
        self.policy = policy or RetryPolicy(max_retries=settings.max_retries,
                                            deadline=settings.timeout * (settings.max_retries + 1))
        if client is None:
            assistant = AssistantSettings(connect_timeout=min(5.0, settings.timeout), read_timeout=settings.timeout)
            client = make_openai_client(assistant, secrets, max_retries=0,
                                        timeout=make_timeout(assistant.connect_timeout, settings.timeout))
        self.client = client

    def transcribe(self, pcm: np.ndarray, cancel: CancelToken) -> str:
        from ..llm.client import classify_openai_error, retry_after

        wav = to_wav(pcm)
        if self.debug_dir is not None:
            self.debug_dir.mkdir(parents=True, exist_ok=True)
            (self.debug_dir / f"question-{int(time.time())}.wav").write_bytes(wav)
        start = time.monotonic()
        attempt = 0
        while True:
            cancel.check()
            kwargs: dict[str, Any] = {"model": self.settings.model, "file": ("question.wav", wav, "audio/wav")}
            if self.settings.language:
                kwargs["language"] = self.settings.language
            try:
                result = self.client.audio.transcriptions.create(**kwargs)
                text = (getattr(result, "text", None) or "").strip()
                return "" if is_empty(text) else text
            except Exception as exc:
                if cancel.cancelled:
                    raise Cancelled(cancel.reason) from exc
                error = classify_openai_error(exc, stage="stt")
                attempt += 1
                delay = (self.policy.next_delay(attempt, start, time.monotonic(), retry_after(exc))
                         if error.retryable else None)
                if delay is None:
                    raise error from exc
                log.warning("transcription failed (%s), retry %d in %.1fs", error.kind.value, attempt, delay)
                if cancel.wait(delay):
                    raise Cancelled(cancel.reason) from exc

