"""What a failed model request means for the appliance, without loading the OpenAI SDK.

One place turns failures into typed :class:`~appliance.errors.ApplianceError` kinds, so the assistant, the
transcriber and the vision request react to them the same way (retry or not, which phrase to say). A failure
reported inside a stream (an ``error`` event, ``response.failed``) is classified from its code; an exception is
one of the appliance's own, one of the SDK's, or unexpected. The SDK's exceptions exist only once an HTTP path
has imported it (:mod:`.client`); the WebSocket paths never do (:mod:`.openai_socket`), so this module reads the
SDK from ``sys.modules`` and never imports it.
"""

from __future__ import annotations

import sys
from typing import Any

from appliance.errors import ApplianceError, ErrorKind
from appliance.retry import parse_retry_after

#: Stream ``error`` / ``response.failed`` codes worth a new request (the others would fail the same way).
RETRYABLE_FAILURE_CODES = frozenset({"server_error", "rate_limit_exceeded", "vector_store_timeout"})


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


def _sdk() -> Any:
    """The SDK's module if something has imported it (its exceptions cannot exist otherwise), else None."""
    return sys.modules.get("openai")


def expected(exc: BaseException) -> bool:
    """A failure the appliance knows (its own or the SDK's), not a bug worth a traceback in the log."""
    sdk = _sdk()
    return isinstance(exc, ApplianceError) or (sdk is not None and isinstance(exc, sdk.OpenAIError))


def classify_openai_error(exc: BaseException, stage: str = "assistant") -> ApplianceError:
    """Map an SDK exception (or a stream failure carried in an ``APIError``) to a typed ApplianceError; an
    ApplianceError is itself, anything else an internal error.

    ``retryable`` follows the SDK's own rule (408, 409, 429, 5xx, timeouts, connection errors; an explicit
    ``x-should-retry`` header wins), except that running out of quota is never retried."""
    if isinstance(exc, ApplianceError):
        return exc
    sdk = _sdk()
    if sdk is not None:
        if isinstance(exc, sdk.APITimeoutError):
            return ApplianceError(ErrorKind.TIMEOUT, "the request timed out", stage=stage, retryable=True)
        if isinstance(exc, sdk.APIConnectionError):
            return ApplianceError(ErrorKind.CONNECTION, "the service could not be reached", stage=stage, retryable=True)
        if isinstance(exc, sdk.APIStatusError):
            return _classify_status(exc, stage)
        if isinstance(exc, sdk.APIError):
            return classify_failure(exc.code, exc.message, stage)
    return ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage=stage)


def _classify_status(exc: Any, stage: str) -> ApplianceError:
    """An ``openai.APIStatusError``."""
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
    sdk = _sdk()
    if sdk is None or not isinstance(exc, sdk.APIStatusError) or exc.status_code not in (400, 404):
        return False
    if (exc.code or "") == "previous_response_not_found":
        return True
    message = _error_message(exc).lower()
    return (exc.param == "previous_response_id" or "previous response" in message) and "not found" in message


def _error_message(exc: Any) -> str:
    """The message in an ``openai.APIStatusError``'s body, if it has one."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""
