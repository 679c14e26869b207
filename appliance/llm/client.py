"""The configured OpenAI client, and what its exceptions mean for the appliance.

One place builds the SDK client (API key only from :class:`~appliance.config.settings.Secrets`, base URL from
the secrets or ``OPENAI_BASE_URL``, explicit connect/read timeouts) and one place turns the SDK's
exceptions into typed :class:`~appliance.errors.ApplianceError` kinds, so the assistant, the transcriber and
the vision request react to failures the same way (retry or not, which phrase to say).
"""

from __future__ import annotations

import os
from typing import Any

import openai

from appliance.config.settings import AssistantSettings, Secrets, Settings
from appliance.errors import ApplianceError, ErrorKind
from appliance.retry import parse_retry_after

#: Seconds allowed to send a request body (images from the camera can be a few hundred kB).
WRITE_TIMEOUT = 15.0
#: Seconds to wait for a free connection from the pool.
POOL_TIMEOUT = 5.0


def make_timeout(connect: float, read: float, write: float = WRITE_TIMEOUT) -> openai.Timeout:
    """An ``httpx`` timeout (the SDK's own class) with separate connect and read limits.

    ``read`` is the longest silence tolerated between two bytes, so a stalled stream fails after it."""
    return openai.Timeout(connect=connect, read=read, write=write, pool=POOL_TIMEOUT)


def make_openai_client(
    assistant: AssistantSettings | Settings,
    secrets: Secrets | None = None,
    *,
    max_retries: int | None = None,
    timeout: float | openai.Timeout | None = None,
) -> openai.OpenAI:
    """Build the SDK client for the appliance.

    ``assistant`` may also be the whole :class:`Settings` (its ``assistant`` section and ``secrets`` are
    used), which is how the camera's separate vision request calls it. ``max_retries`` defaults to
    ``assistant.max_retries``; ``timeout`` to connect/read limits from the settings. Raises
    ApplianceError(CONFIG) when no API key is set: the SDK would otherwise read one from the environment,
    and keys come from :class:`Secrets` only."""
    if isinstance(assistant, Settings):
        secrets = assistant.secrets if secrets is None else secrets
        assistant = assistant.assistant
    if secrets is None:
        raise TypeError("make_openai_client needs the secrets (or the whole Settings)")
    if not secrets.openai_api_key:
        raise ApplianceError(ErrorKind.CONFIG, "OPENAI_API_KEY is not set", stage="assistant")
    base_url = secrets.openai_base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or None
    if timeout is None:
        timeout = make_timeout(assistant.connect_timeout, assistant.read_timeout)
    return openai.OpenAI(
        api_key=secrets.openai_api_key,
        base_url=base_url,
        # the sockets' own address when one is set (the same one the realtime transcription uses); else the
        # SDK derives ws(s):// from base_url
        websocket_base_url=secrets.get("openai", "websocket_base_url") or None,
        timeout=timeout,
        max_retries=assistant.max_retries if max_retries is None else max_retries,
    )


#: Stream ``error`` / ``response.failed`` codes worth a new request (the others would fail the same way).
RETRYABLE_FAILURE_CODES = frozenset({"server_error", "rate_limit_exceeded", "vector_store_timeout"})


def classify_openai_error(exc: BaseException, stage: str = "assistant") -> ApplianceError:
    """Map an SDK exception (or a stream failure carried in an ``APIError``) to a typed ApplianceError.

    ``retryable`` follows the SDK's own rule (408, 409, 429, 5xx, timeouts, connection errors; an explicit
    ``x-should-retry`` header wins), except that running out of quota is never retried."""
    if isinstance(exc, ApplianceError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ApplianceError(ErrorKind.TIMEOUT, "the request timed out", stage=stage, retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ApplianceError(ErrorKind.CONNECTION, "the service could not be reached", stage=stage, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc, stage)
    if isinstance(exc, openai.APIError):
        return classify_failure(exc.code, exc.message, stage)
    return ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage=stage)


def _classify_status(exc: openai.APIStatusError, stage: str) -> ApplianceError:
    status = exc.status_code
    detail = _error_message(exc)
    code = (exc.code or "").lower()
    kind: ErrorKind
    if status == 429 and (code == "insufficient_quota" or (exc.type or "") == "insufficient_quota"):
        kind, retryable, text = ErrorKind.QUOTA, False, "the account has run out of credit"
    elif status == 429:
        kind, retryable, text = ErrorKind.RATE_LIMITED, True, "too many requests"
    elif status in (401, 403):
        kind, retryable, text = ErrorKind.AUTH, False, "the API key was refused"
    elif status == 408:
        kind, retryable, text = ErrorKind.TIMEOUT, True, "the server timed out"
    elif status == 409 or status >= 500:
        kind, retryable, text = ErrorKind.SERVER, True, "the server failed"
    else:
        kind, retryable, text = ErrorKind.BAD_REQUEST, False, "the request was refused"
    should_retry = exc.response.headers.get("x-should-retry")
    if should_retry in ("true", "false") and kind is not ErrorKind.QUOTA:
        retryable = should_retry == "true"
    message = f"{text} (HTTP {status}{': ' + detail if detail else ''})"
    return ApplianceError(kind, message, stage=stage, retryable=retryable)


def classify_failure(code: str | None, message: str | None, stage: str = "assistant") -> ApplianceError:
    """A failure reported inside the stream (``error`` event, ``response.failed``)."""
    code = (code or "").lower()
    if code == "rate_limit_exceeded":
        kind = ErrorKind.RATE_LIMITED
    elif code in ("server_error", "vector_store_timeout"):
        kind = ErrorKind.SERVER
    else:
        kind = ErrorKind.RESPONSE_FAILED
    text = f"the response failed ({code or 'no code'}): {message or 'no message'}"
    return ApplianceError(kind, text, stage=stage, retryable=code in RETRYABLE_FAILURE_CODES or not code)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``), if it said."""
    response = getattr(exc, "response", None)
    headers: Any = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = parse_retry_after(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    return parse_retry_after(headers.get("retry-after"))


def is_previous_response_missing(exc: BaseException) -> bool:
    """True for the 400/404 the API gives when ``previous_response_id`` is unknown (expired or deleted)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 404):
        return False
    if (exc.code or "") == "previous_response_not_found":
        return True
    message = _error_message(exc).lower()
    return (exc.param == "previous_response_id" or "previous response" in message) and "not found" in message


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""
