"""Logging to stderr (journald keeps it on the Pi) with every configured secret scrubbed.

The scrubbing is in the formatter, the one place a record becomes text: the message, its arguments and any
traceback are redacted together, however a key got into them (an SDK error that echoes a request header,
a server's error body that quotes the key).
"""

from __future__ import annotations

import logging
import sys

from appliance.config.secrets import Secrets


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then replaces every secret in the whole text."""

    def __init__(self, secrets: Secrets, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return self.secrets.redact(super().format(record))


def setup_logging(level: str, secrets: Secrets) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The HTTP libraries log request lines (and at DEBUG, headers): keep them quiet.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "elevenlabs"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
