"""Opening a realtime transcription socket and setting up its session (the appliance commits; no server VAD)."""

from __future__ import annotations

from typing import Any

from appliance.llm.openai_socket import OpenAiEndpoint, OpenAiSocket, connect
from appliance.stt.realtime_config import API_RATE, Failure, RealtimeSttError, RealtimeSttOptions
from appliance.websocket_log import QUIET_CLOSE_LOGGER


def open_socket(endpoint: OpenAiEndpoint, opts: RealtimeSttOptions) -> OpenAiSocket:
    """The open ``/realtime?intent=transcription`` socket; a refused upgrade or no connection is
    RealtimeSttError (REFUSED, CONNECT)."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    try:
        return connect(
            endpoint,
            "realtime",
            query={"intent": "transcription"},
            open_timeout=opts.connect_timeout,
            close_timeout=0.1,
            ping_interval=None,
            max_queue=64,
            logger=QUIET_CLOSE_LOGGER,  # a close racing the reader is no error with a traceback
        )
    except InvalidStatus as e:
        status = e.response.status_code
        raise RealtimeSttError(Failure.REFUSED, f"realtime upgrade refused: HTTP {status}", status=status) from e
    except (InvalidHandshake, OSError, TimeoutError) as e:
        raise RealtimeSttError(Failure.CONNECT, f"cannot connect to the realtime API: {e!r}") from e


def session_update(opts: RealtimeSttOptions) -> dict[str, Any]:
    """The ``session.update`` event: transcription of 24 kHz PCM with ``opts``' model, language and noise
    reduction, turn detection off (the JSON the SDK's ``connection.session.update`` sent)."""
    transcription: dict[str, Any] = {"model": opts.model}
    if opts.language:
        transcription["language"] = opts.language
    audio_input: dict[str, Any] = {
        "format": {"type": "audio/pcm", "rate": API_RATE},
        "transcription": transcription,
        "turn_detection": None,
    }
    audio_input["noise_reduction"] = {"type": opts.noise_reduction} if opts.noise_reduction else None
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio_input}}}


def set_up_session(connection: OpenAiSocket, opts: RealtimeSttOptions) -> None:
    """Send :func:`session_update`; a socket that died since the handshake is RealtimeSttError (CLOSED)."""
    try:
        connection.send(session_update(opts))
    except Exception as e:  # the socket died between the handshake and the first message
        raise RealtimeSttError(Failure.CLOSED, f"realtime socket closed at once: {e!r}") from e
