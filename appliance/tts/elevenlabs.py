"""ElevenLabs streaming text-to-speech (the v2 SDK's ``text_to_speech.stream``), raw PCM out.

``tts.provider = "elevenlabs"``. The answer is checked before a byte of it is played: its content type
must be audio (and the speech pipeline checks that the PCM looks like PCM, :mod:`appliance.tts.check`), so
a 200 carrying an error document is a typed TTS error, never noise from the speaker or a poisoned phrase.

One httpx client is kept for all sentences so the TLS connection is reused. The SDK never retries a
stream and raises raw httpx errors mid-stream; this module turns everything into typed ApplianceErrors.
A cancel closes the client, which makes a blocked read return at once; a fresh client is made next time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from appliance.cancel import CancelToken
from appliance.config.settings import Secrets, TtsSettings
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.retry import parse_retry_after
from appliance.tts.check import check_content_type

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"


class ElevenLabsSynth:
    """ports.Synthesizer."""

    def __init__(self, settings: TtsSettings, secrets: Secrets) -> None:
        self.settings = settings
        self.secrets = secrets
        self.sample_rate = settings.sample_rate
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._client: Any = None

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                from elevenlabs.client import ElevenLabs

                if not self.secrets.elevenlabs_api_key:
                    raise ApplianceError(
                        ErrorKind.AUTH, "ELEVENLABS_API_KEY is not set: add it to /etc/appliance/env", stage="tts"
                    )
                timeout = httpx.Timeout(
                    connect=min(5.0, self.settings.timeout),
                    read=self.settings.timeout,
                    write=self.settings.timeout,
                    pool=5.0,
                )
                self._http = httpx.Client(timeout=timeout)
                self._client = ElevenLabs(
                    api_key=self.secrets.elevenlabs_api_key,
                    base_url=self.secrets.elevenlabs_base_url or DEFAULT_BASE_URL,
                    httpx_client=self._http,
                    timeout=self.settings.timeout,
                )
            return self._client

    def warm(self) -> None:
        """Import the SDK and build the client now (in the background at start-up), not on the first
        sentence: on a Pi that import alone is most of a second of latency."""
        try:
            import elevenlabs.text_to_speech.client  # noqa: F401

            self._sdk()
        except ApplianceError as exc:
            log.info("speech synthesis not prepared: %s", exc.message)

    def abort(self) -> None:
        """Close the connection(s): a read blocked in another thread fails at once."""
        with self._lock:
            http, self._http, self._client = self._http, None, None
        if http is not None:
            http.close()

    def stream(self, text: str, previous_text: str | None, cancel: CancelToken) -> Iterator[bytes]:
        """s16le mono PCM at ``sample_rate`` as it arrives. Raises ApplianceError (or Cancelled)."""
        from elevenlabs import VoiceSettings
        from elevenlabs.core.api_error import ApiError

        client = self._sdk()
        remove = cancel.on_cancel(self.abort)
        kwargs: dict[str, Any] = {
            "text": text,
            "model_id": self.settings.model,
            "output_format": f"pcm_{self.sample_rate}",
        }
        if previous_text:
            kwargs["previous_text"] = previous_text
        if self.settings.speed != 1.0:
            kwargs["voice_settings"] = VoiceSettings(speed=self.settings.speed)
        try:
            with client.text_to_speech.with_raw_response.stream(self.settings.voice_id, **kwargs) as response:
                check_content_type(response.headers.get("content-type"))
                for chunk in response.data:
                    if cancel.cancelled:
                        raise Cancelled(cancel.reason)
                    yield chunk
        except Cancelled:
            raise
        except ApiError as exc:
            raise classify_status(exc.status_code, exc.body, exc.headers) from exc
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            if cancel.cancelled:
                raise Cancelled(cancel.reason) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise ApplianceError(
                    ErrorKind.TIMEOUT, f"speech synthesis timed out ({type(exc).__name__})", stage="tts", retryable=True
                ) from exc
            raise ApplianceError(
                ErrorKind.CONNECTION,
                f"speech synthesis connection failed ({type(exc).__name__})",
                stage="tts",
                retryable=True,
            ) from exc
        finally:
            remove()


def classify_status(status: int | None, body: Any, headers: dict[str, str] | None) -> ApplianceError:
    text = str(body)[:200]
    error: ApplianceError
    if status == 401:
        error = ApplianceError(ErrorKind.AUTH, f"ElevenLabs refused the API key (401): {text}", stage="tts")
    elif status == 402 or "quota" in text.lower():
        error = ApplianceError(ErrorKind.QUOTA, f"ElevenLabs quota exhausted ({status}): {text}", stage="tts")
    elif status == 429:
        error = ApplianceError(
            ErrorKind.RATE_LIMITED,
            "ElevenLabs rate limit (429)",
            stage="tts",
            retryable=True,
            retry_after=parse_retry_after((headers or {}).get("retry-after")),
        )
    elif status is not None and status >= 500:
        error = ApplianceError(ErrorKind.SERVER, f"ElevenLabs server error {status}", stage="tts", retryable=True)
    else:
        error = ApplianceError(ErrorKind.BAD_REQUEST, f"ElevenLabs answered {status}: {text}", stage="tts")
    return error
