"""Transcription and ElevenLabs TTS replies for the fake cloud."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from standin.cloud import Json, Request, Status, Stream


def transcript(text: str) -> Json:
    """What /v1/audio/transcriptions answers for response_format json."""
    return Json({"text": text, "usage": {"type": "duration", "seconds": 2}})


def pcm(seconds: float, rate: int = 24000, seed: int = 0) -> bytes:
    """Deterministic s16le audio: a tone whose frequency depends on ``seed`` plus seeded low noise, so
    the order and completeness of played audio can be checked sample by sample."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * (300 + 50 * seed) * t) + rng.normal(0, 0.01, len(t))
    return (x * 32767).astype("<i2").tobytes()


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def tts(
    data: bytes,
    *,
    chunk: int = 4801,
    delay: float = 0.0,
    ttfb: float = 0.0,
    disconnect_after: int | None = None,
    stall_after: int | None = None,
) -> Stream:
    """Chunked raw PCM like /v1/text-to-speech/{voice}/stream (odd chunk sizes split samples)."""
    return Stream(
        chunks(data, chunk),
        content_type="audio/pcm",
        delay=delay,
        ttfb=ttfb,
        disconnect_after=disconnect_after,
        stall_after=stall_after,
    )


def tts_json_error(message: str = "voice_not_found", *, content_type: str = "application/json") -> Json:
    """A 200 whose body is a JSON error document, not audio (a proxy or a misbehaving service). With
    ``content_type="audio/pcm"`` the header lies too, and only the bytes tell."""
    body = {"detail": {"status": "error", "message": message}}
    return Json(body, status=200, headers={"Content-Type": content_type})


def echo_key_error(status: int = 401) -> Callable[[Request], Json]:
    """An error whose body quotes the API key the request carried (as some services and proxies do)."""

    def reply(request: Request) -> Json:
        key = request.headers.get("xi-api-key") or request.headers.get("authorization", "")
        return Status(status, f"invalid api key: {key}")

    return reply
