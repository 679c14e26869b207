"""Opening a realtime transcription socket and setting up its session (the appliance commits; no server VAD)."""

from __future__ import annotations

from typing import Any, cast

from appliance.stt.realtime_config import API_RATE, Failure, RealtimeSttError, RealtimeSttOptions
from appliance.websocket_log import QUIET_CLOSE_LOGGER


def open_socket(client: Any, opts: RealtimeSttOptions) -> Any:
    """The open connection (``client``: an ``openai.OpenAI``); a refused upgrade or no connection is
    RealtimeSttError (REFUSED, CONNECT)."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    ws_options = cast(
        Any,
        {
            "open_timeout": opts.connect_timeout,
            "close_timeout": 0.1,
            "ping_interval": None,
            "max_queue": 64,
            "logger": QUIET_CLOSE_LOGGER,  # a close racing the reader is no error with a traceback
        },
    )
    try:
        return client.realtime.connect(
            extra_query={"intent": "transcription"}, websocket_connection_options=ws_options
        ).enter()
    except InvalidStatus as e:
        status = e.response.status_code
        raise RealtimeSttError(Failure.REFUSED, f"realtime upgrade refused: HTTP {status}", status=status) from e
    except (InvalidHandshake, OSError, TimeoutError) as e:
        raise RealtimeSttError(Failure.CONNECT, f"cannot connect to the realtime API: {e!r}") from e


def set_up_session(connection: Any, opts: RealtimeSttOptions) -> None:
    """Ask for transcription of 24 kHz PCM with ``opts``' model, language and noise reduction, turn detection
    off; a socket that died since the handshake is RealtimeSttError (CLOSED)."""
    transcription: dict[str, Any] = {"model": opts.model}
    if opts.language:
        transcription["language"] = opts.language
    audio_input: dict[str, Any] = {
        "format": {"type": "audio/pcm", "rate": API_RATE},
        "transcription": transcription,
        "turn_detection": None,
    }
    audio_input["noise_reduction"] = {"type": opts.noise_reduction} if opts.noise_reduction else None
    try:
        connection.session.update(session={"type": "transcription", "audio": {"input": audio_input}})
    except Exception as e:  # the socket died between the handshake and the first message
        raise RealtimeSttError(Failure.CLOSED, f"realtime socket closed at once: {e!r}") from e
