"""The WebSocket addresses of the cloud stages: OPENAI_WEBSOCKET_BASE_URL reaches the assistant's Responses socket
too (not only the realtime transcription), and ELEVENLABS_WEBSOCKET_BASE_URL gives the input-streaming speech a
socket address of its own, as the local stand-ins need (each fake listens on its own port)."""

from __future__ import annotations

from appliance.config.secrets import Secrets
from appliance.config.settings import Settings
from appliance.host.builders import streaming_speech
from appliance.llm.client import make_openai_client

ENV = {
    "OPENAI_API_KEY": "sk-test-0123456789",
    "OPENAI_BASE_URL": "http://127.0.0.1:8001/v1",
    "OPENAI_WEBSOCKET_BASE_URL": "ws://127.0.0.1:8002/v1",
    "ELEVENLABS_API_KEY": "el-test-0123456789",
    "ELEVENLABS_BASE_URL": "http://127.0.0.1:8001",
    "ELEVENLABS_WEBSOCKET_BASE_URL": "ws://127.0.0.1:8003",
}


def test_the_responses_socket_uses_the_websocket_address() -> None:
    secrets = Secrets.from_env(ENV)
    client = make_openai_client(Settings().assistant, secrets)
    assert str(client.websocket_base_url) == "ws://127.0.0.1:8002/v1"
    # without one, the SDK derives the socket from the HTTP address, as against the real API
    plain = make_openai_client(Settings().assistant, Secrets.from_env({**ENV, "OPENAI_WEBSOCKET_BASE_URL": ""}))
    assert plain.websocket_base_url is None


def test_the_speech_socket_address_is_its_own_and_not_a_secret() -> None:
    secrets = Secrets.from_env(ENV)
    assert secrets.get("elevenlabs", "websocket_base_url") == "ws://127.0.0.1:8003"
    assert "ws://127.0.0.1:8003" not in secrets.secret_values()


def _speech_url(env: dict[str, str]) -> str:
    from dataclasses import replace

    settings = replace(Settings(), secrets=Secrets.from_env(env))
    speech = streaming_speech(settings, None, None, lambda: 1.0)  # type: ignore[arg-type]
    return str(speech.opener._connect().url)


def test_streaming_speech_connects_to_the_websocket_address() -> None:
    assert _speech_url(ENV).startswith("ws://127.0.0.1:8003/v1/text-to-speech/")
    without = {**ENV, "ELEVENLABS_WEBSOCKET_BASE_URL": ""}
    assert _speech_url(without).startswith("ws://127.0.0.1:8001/v1/text-to-speech/")
