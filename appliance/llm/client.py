"""The configured OpenAI SDK client (the HTTP paths), and what its exceptions mean for the appliance.

One place builds the SDK client (API key only from :class:`~appliance.config.settings.Secrets`, base URL from
the secrets or ``OPENAI_BASE_URL``, explicit connect/read timeouts) and one place turns the SDK's
exceptions into typed :class:`~appliance.errors.ApplianceError` kinds, so the assistant, the transcriber and
the vision request react to failures the same way (retry or not, which phrase to say): :mod:`.failures`, which
does not import the SDK. Importing this module does (~30 MB on a Pi): the WebSocket paths never do
(:mod:`.openai_socket`).
"""

from __future__ import annotations

import os

import openai

from appliance.config.settings import AssistantSettings, Secrets, Settings
from appliance.errors import ApplianceError, ErrorKind
from appliance.llm.failures import (
    RETRYABLE_FAILURE_CODES,
    classify_failure,
    classify_openai_error,
    is_previous_response_missing,
    retry_after,
)

__all__ = [
    "RETRYABLE_FAILURE_CODES",
    "classify_failure",
    "classify_openai_error",
    "is_previous_response_missing",
    "make_openai_client",
    "make_timeout",
    "retry_after",
]

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
