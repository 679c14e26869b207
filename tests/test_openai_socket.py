"""OpenAI's sockets spoken without the SDK (issue 31): where they open, with which headers, and how a server
event reads. The sockets themselves are exercised against the stand-ins in test_responses_ws.py and
test_stt_realtime.py."""

from __future__ import annotations

import json

import pytest

from appliance.config.settings import Secrets
from appliance.llm.openai_socket import OpenAiEndpoint, parse_event
from appliance.llm.wellformed import malformed


def test_the_socket_address_follows_the_sdks_rules() -> None:
    plain = OpenAiEndpoint("sk-1", "https://api.openai.com/v1")
    assert plain.url("responses") == "wss://api.openai.com/v1/responses"
    local = OpenAiEndpoint("sk-1", "http://127.0.0.1:8080/v1/")
    assert local.url("realtime", {"intent": "transcription"}) == "ws://127.0.0.1:8080/v1/realtime?intent=transcription"
    own = OpenAiEndpoint("sk-1", "http://127.0.0.1:8080/v1", "ws://127.0.0.1:9/base?region=eu")
    assert (
        own.url("realtime", {"intent": "transcription"})
        == "ws://127.0.0.1:9/base/realtime?region=eu&intent=transcription"
    )


def test_the_endpoint_comes_from_the_secrets_and_never_shows_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_1")
    monkeypatch.delenv("OPENAI_ORG_ID", raising=False)
    secrets = Secrets.from_env({"OPENAI_API_KEY": "sk-secret-123", "OPENAI_WEBSOCKET_BASE_URL": "ws://h:1/v1"})
    endpoint = OpenAiEndpoint.from_secrets(secrets)
    assert endpoint.base_url == "https://api.openai.com/v1" and endpoint.websocket_base_url == "ws://h:1/v1"
    assert endpoint.headers() == {"Authorization": "Bearer sk-secret-123", "OpenAI-Project": "proj_1"}
    assert "sk-secret" not in repr(endpoint) and "sk-secret" not in str(endpoint)


def test_an_event_reads_like_the_sdks_unvalidated_model() -> None:
    event = parse_event(
        json.dumps(
            {
                "type": "response.completed",
                "response": {"id": "resp_1", "output": [{"type": "function_call", "call_id": "c1", "name": "f"}]},
            }
        )
    )
    assert event.type == "response.completed" and event.response.id == "resp_1"
    call = event.response.output[0]
    assert (call.call_id, call.name, call.arguments) == ("c1", "f", None)  # a field left out reads as None
    with pytest.raises(AttributeError):
        _ = event._fields_of_someone_else
    assert malformed(event) is None  # a call's arguments may be left out in the final response (they streamed)
    # what the parser cannot read is caught before it, as with the SDK's objects
    bad = parse_event('{"type": "response.output_text.delta", "delta": 5}')
    assert malformed(bad) == "response.output_text.delta: delta is int"
    missing = parse_event('{"type": "response.function_call_arguments.delta", "delta": "{"}')
    assert malformed(missing) == "response.function_call_arguments.delta: item_id is NoneType"


@pytest.mark.parametrize("message", ['"a string"', "[1, 2]", "{not json", b"\xff\xfe"])
def test_a_message_that_is_not_a_json_object_is_unreadable(message: str | bytes) -> None:
    with pytest.raises(ValueError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        parse_event(message)
