"""Logging to stderr (journald keeps it on the Pi) with secrets scrubbed from every record."""

from __future__ import annotations

import logging
import sys

from .settings import Secrets


class RedactingFilter(logging.Filter):
    """Replaces API keys in any log message, however they got there."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.secrets.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if self.secrets.redact(text) != text:
                record.msg = f"{redacted} [traceback withheld: it contained a secret]"
                record.args, record.exc_info, record.exc_text = None, None, None
        return True


def setup_logging(level: str, secrets: Secrets) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The HTTP libraries log request lines (and at DEBUG, headers): keep them quiet.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "elevenlabs"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
