"""Is this speech? Checks on synthesized audio before it is played or cached.

A text-to-speech service that answers 200 with an error document (JSON, HTML from a proxy) would otherwise
be played as loud noise and saved as every offline phrase. Pure functions and a small stateful checker
over the chunks of one sentence; a failed check is a typed TTS error.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from appliance.errors import ApplianceError, ErrorKind

#: Content types a raw-PCM answer may carry (ElevenLabs sends audio/* or application/octet-stream).
AUDIO_TYPES = ("audio/", "application/octet-stream")
#: Bytes that start a text document rather than audio: JSON, HTML/XML, and their leading whitespace.
_TEXT_STARTS = (b"{", b"[", b"<", b'"')
#: Bytes looked at to decide whether a chunk stream starts like a document.
PREFIX_BYTES = 64
#: A chunk with more than this share of samples at full scale is clipping noise, not speech.
MAX_CLIPPED_SHARE = 0.5
_CLIP = 32767


def check_content_type(content_type: str | None, stage: str = "tts") -> None:
    """Raise unless ``content_type`` is an audio type (a missing header is accepted: the bytes decide)."""
    if not content_type:
        return
    kind = content_type.split(";", 1)[0].strip().lower()
    if not kind.startswith(AUDIO_TYPES):
        raise ApplianceError(ErrorKind.TTS, f"speech synthesis answered {kind}, not audio", stage=stage)


def looks_like_text(prefix: bytes) -> bool:
    """True when the first bytes read as a JSON or HTML document rather than PCM."""
    stripped = prefix.lstrip(b" \t\r\n")
    return bool(stripped) and stripped.startswith(_TEXT_STARTS) and _printable(stripped[:PREFIX_BYTES])


def clipped_share(pcm: np.ndarray) -> float:
    """Share of samples at (or within one step of) full scale."""
    if not len(pcm):
        return 0.0
    return float(np.count_nonzero(np.abs(pcm.astype(np.int32)) >= _CLIP)) / len(pcm)


def checked(chunks: Iterator[bytes], stage: str = "tts") -> Iterator[bytes]:
    """``chunks`` of s16le PCM, passed through once they look like audio; raises ApplianceError(TTS) when
    they do not. The first bytes are held back until there are enough to judge (or the stream ends)."""
    head = b""
    total = 0
    started = False
    for chunk in chunks:
        if not chunk:
            continue
        if not started:
            head += chunk
            if len(head) < PREFIX_BYTES:
                continue
            _check_head(head, stage)
            started, chunk = True, head
        _check_samples(chunk[total % 2 :], stage)  # a chunk may start in the middle of a sample
        total += len(chunk)
        yield chunk
    if not started and head:
        _check_head(head, stage)
        _check_samples(head, stage)
        total = len(head)
        yield head
    if total % 2:
        raise ApplianceError(
            ErrorKind.TTS, f"speech synthesis sent {total} bytes, not whole 16-bit samples", stage=stage
        )


def _check_head(head: bytes, stage: str) -> None:
    if looks_like_text(head):
        raise ApplianceError(
            ErrorKind.TTS,
            "speech synthesis sent a text document instead of audio: " + head[:120].decode("utf-8", "replace"),
            stage=stage,
        )


def _check_samples(chunk: bytes, stage: str) -> None:
    pcm = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2")
    if len(pcm) >= 64 and clipped_share(pcm) > MAX_CLIPPED_SHARE:
        raise ApplianceError(ErrorKind.TTS, "speech synthesis sent audio that is mostly clipping", stage=stage)


def _printable(data: bytes) -> bool:
    """Mostly printable ASCII or UTF-8 text (PCM that happens to start with '{' is not)."""
    text = data.decode("utf-8", "replace")
    good = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return good >= 0.9 * len(text)
