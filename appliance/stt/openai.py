"""Transcription of the recorded question with OpenAI's transcription endpoint (a WAV made in memory).

``stt.provider = "openai"``. The whole transcription, retries included, draws on the turn's deadline: each
attempt's timeout is ``deadline.cap(stt.timeout)``, no retry starts that could not finish, and when it
passes the wait ends, so a stalled or trickling server costs the deadline, not timeout x attempts.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import numpy as np

from appliance.audio.wavfile import wav_bytes
from appliance.cancel import CancelToken
from appliance.config.settings import AssistantSettings, Secrets, SttSettings
from appliance.deadline import Deadline
from appliance.debug_folder import DebugFolder
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.ports import SAMPLE_RATE
from appliance.retry import RetryPolicy
from appliance.text.clean import clean_text
from appliance.timings import TurnTimings

log = logging.getLogger(__name__)

#: Transcripts that mean nobody said anything (models sometimes return these for noise).
_NOISE = re.compile(
    r"^\W*(\[?(inaudible|silence|noise|music|blank_audio|no speech)\]?|you|thank you|"
    r"thanks for watching|uh+|um+|hmm+|mm+)\W*$",
    re.IGNORECASE,
)
#: A retry is only started when at least this much of the turn is left for it.
MIN_TIME_FOR_RETRY = 0.5
#: How often a waiting transcription looks at the cancel token and the deadline.
_POLL = 0.02


def is_empty(text: str) -> bool:
    """True for an empty, punctuation-only or noise-marker transcript."""
    stripped = text.strip()
    return not stripped or not re.search(r"\w", stripped) or bool(_NOISE.match(stripped))


class OpenAITranscriber:
    """ports.Transcriber. Retries are ours (RetryPolicy, sleeping on the cancel token), not the SDK's, so a
    stop is honoured at once, and so is a cancel or the deadline during a request (see ``_request``)."""

    def __init__(
        self,
        settings: SttSettings,
        secrets: Secrets,
        *,
        client: Any = None,
        debug: DebugFolder | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.debug = debug  # where the recorded questions are kept (debug.keep_audio), else None
        self.policy = policy or RetryPolicy(
            max_retries=settings.max_retries, deadline=settings.timeout * (settings.max_retries + 1)
        )
        self._lock = threading.Lock()
        self._given = client
        self._client: Any = client

    @property
    def client(self) -> Any:
        """The SDK client (made on first use, and again after a cancel closed it)."""
        with self._lock:
            if self._client is None:
                from appliance.llm.client import make_openai_client, make_timeout

                connect = min(5.0, self.settings.timeout)
                assistant = AssistantSettings(connect_timeout=connect, read_timeout=self.settings.timeout)
                self._client = make_openai_client(
                    assistant, self.secrets, max_retries=0, timeout=make_timeout(connect, self.settings.timeout)
                )
            return self._client

    def abort(self) -> None:
        """Drop the client (and close it): an abandoned request must not hold the next one's connection."""
        with self._lock:
            client, self._client = self._client, self._given
        if client is not None and client is not self._given:
            client.close()

    def warm(self) -> None:
        """Build the client and load the SDK's resources now (in the background at start-up)."""
        _ = self.client.audio.transcriptions

    def _request(self, kwargs: dict[str, Any], cancel: CancelToken, deadline: Deadline | None) -> Any:
        """One request, waited for here while a worker thread makes it: a socket blocked in a read cannot be
        woken from another thread, so a cancel or the deadline ends the wait at once, and the abandoned
        request ends by itself within its own (capped) timeout, on a client that is replaced."""
        client = self.client
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["result"] = client.audio.transcriptions.create(**kwargs)
            except Exception as exc:  # handed to the waiting thread, which classifies it
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="stt-request", daemon=True).start()
        while not done.wait(_POLL):
            if cancel.cancelled:
                self.abort()
                raise Cancelled(cancel.reason)
            if deadline is not None and deadline.expired():
                self.abort()
                raise _out_of_time(deadline)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def transcribe(
        self,
        pcm: np.ndarray,
        cancel: CancelToken,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> str:
        from appliance.llm.client import classify_openai_error, make_timeout, retry_after

        wav = wav_bytes(pcm, SAMPLE_RATE)
        if self.debug is not None:
            self.debug.keep("question", ".wav", wav)  # never raises: a debugging aid costs no answer
        start = time.monotonic()
        attempt = 0
        while True:
            cancel.check()
            if deadline is not None and deadline.expired():
                raise _out_of_time(deadline)
            timeout = self.settings.timeout if deadline is None else deadline.cap(self.settings.timeout)
            kwargs: dict[str, Any] = {
                "model": self.settings.model,
                "file": ("question.wav", wav, "audio/wav"),
                "timeout": make_timeout(min(5.0, timeout), timeout),
            }
            if self.settings.language:
                kwargs["language"] = self.settings.language
            try:
                result = self._request(kwargs, cancel, deadline)
                text = clean_text(getattr(result, "text", None) or "").strip()
                return "" if is_empty(text) else text
            except Exception as exc:
                if cancel.cancelled:
                    raise Cancelled(cancel.reason) from exc
                if deadline is not None and deadline.expired():
                    raise _out_of_time(deadline) from exc
                error = classify_openai_error(exc, stage="stt")
                attempt += 1
                delay = (
                    self.policy.next_delay(attempt, start, time.monotonic(), retry_after(exc))
                    if error.retryable
                    else None
                )
                if delay is not None and deadline is not None and delay + MIN_TIME_FOR_RETRY > deadline.left():
                    delay = None  # a retry that cannot finish within the turn is pointless
                if delay is None:
                    raise error from exc
                log.warning("transcription failed (%s), retry %d in %.1fs", error.kind.value, attempt, delay)
                if cancel.wait(delay):
                    raise Cancelled(cancel.reason) from exc


def _out_of_time(deadline: Deadline) -> ApplianceError:
    return ApplianceError(
        ErrorKind.TIMEOUT, f"no transcript within the turn's deadline ({deadline.seconds:g} s)", stage="stt"
    )
