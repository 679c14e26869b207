"""OpenAI's WebSocket APIs spoken directly: the Responses API's WebSocket mode and realtime transcription.

Both are JSON messages over one socket: the client sends ``{"type": ..., ...}`` events, the server sends events
back. The appliance speaks them with ``websockets`` and the standard library instead of through the OpenAI SDK,
whose import alone holds ~30 MB of the Pi's memory (hundreds of pydantic models, httpx) for what is, on these two
paths, a JSON object read by its fields. The SDK stays the client of the HTTP paths (the streamed POST a failed
socket falls back to, the upload of a recording, the camera's vision request); it is loaded the first time one of
them is needed (:mod:`appliance.llm.client`).

The wire is the SDK's (openai 2.x, ``responses.connect`` and ``realtime.connect``): the URL is the socket base
(``openai.websocket_base_url``, else the HTTP base with ``ws``/``wss``) with ``/responses`` or ``/realtime``
added, the headers ``Authorization: Bearer <key>`` and, when set in the environment as the SDK reads them,
``OpenAI-Organization`` / ``OpenAI-Project``. A server event is read into an :class:`Event`: its fields by
attribute, as the SDK's unvalidated models give them (a field the server left out reads as None), so
:mod:`.parsing` and :mod:`.wellformed` read either kind alike.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from appliance.config.secrets import Secrets

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class OpenAiEndpoint:
    """Where OpenAI's sockets are and the key to open them (never logged: see ``__repr__``)."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    websocket_base_url: str = ""
    organization: str = ""
    project: str = ""

    @classmethod
    def from_secrets(cls, secrets: Secrets) -> OpenAiEndpoint:
        """The key and addresses as :func:`~appliance.llm.client.make_openai_client` gives them to the SDK: the
        base URL from the secrets, else ``OPENAI_BASE_URL``, else OpenAI's; the organization and project from
        the environment, as the SDK reads them."""
        base = secrets.openai_base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
        return cls(
            api_key=secrets.openai_api_key,
            base_url=base,
            websocket_base_url=secrets.get("openai", "websocket_base_url"),
            organization=os.environ.get("OPENAI_ORG_ID", "").strip(),
            project=os.environ.get("OPENAI_PROJECT_ID", "").strip(),
        )

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """``ws(s)://…/<path>`` under the socket base, with ``query`` added to the base's own."""
        base = self.websocket_base_url or self.base_url
        parts = urlsplit(base)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        joined = parts.path.rstrip("/") + "/" + path.strip("/")
        extra = urlencode(dict(query)) if query else ""
        both = "&".join(q for q in (parts.query, extra) if q)
        return urlunsplit((scheme, parts.netloc, joined, both, ""))

    def headers(self) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.api_key}"}
        if self.organization:
            out["OpenAI-Organization"] = self.organization
        if self.project:
            out["OpenAI-Project"] = self.project
        return out

    def __repr__(self) -> str:
        return f"OpenAiEndpoint(base_url={self.base_url!r}, websocket_base_url={self.websocket_base_url!r})"


class Event:
    """One server event (or an object inside one): its JSON fields by attribute, objects inside it as Events
    and lists of them as lists of Events. A field the message does not have reads as None, as in the SDK's
    models built without validation; a field of the wrong type reads as it came (:mod:`.wellformed` checks)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(self._fields.get(name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and other._fields == self._fields

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event(type={self._fields.get('type')!r})"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Event(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def parse_event(data: str | bytes) -> Event:
    """A message as an Event; ValueError (``json.JSONDecodeError``, ``UnicodeDecodeError``) when it is not a JSON
    object."""
    value = json.loads(data)
    if not isinstance(value, dict):
        raise json.JSONDecodeError(f"a JSON {type(value).__name__}, not an object", str(data)[:80], 0)
    return Event(value)


class OpenAiSocket:
    """One open socket: events sent as JSON, events received as :class:`Event`. Iterating reads events until the
    server closes normally (an abnormal close raises ``websockets``' ``ConnectionClosed``)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        """The ``websockets.sync.client.ClientConnection``."""

    def send(self, event: Mapping[str, Any]) -> None:
        self._connection.send(json.dumps(event))

    def recv(self) -> Event:
        return parse_event(self._connection.recv())

    def __iter__(self) -> Iterator[Event]:
        from websockets.exceptions import ConnectionClosedOK

        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def close(self) -> None:
        """A close frame, and its answer awaited up to the connection's ``close_timeout``."""
        self._connection.close()

    def abort(self) -> None:
        """Cut the TCP connection at once, so a send or read blocked in another thread returns now."""
        try:
            self._connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone


def connect(
    endpoint: OpenAiEndpoint, path: str, *, query: Mapping[str, str] | None = None, **options: Any
) -> OpenAiSocket:
    """Open ``path`` (``"responses"``, ``"realtime"``) with ``websockets``' own ``options`` (``open_timeout``,
    ``max_size``, ``close_timeout``, ``logger``...). Raises what ``websockets.sync.client.connect`` raises: a
    refused upgrade is ``InvalidStatus``, no connection ``OSError``, a slow handshake ``TimeoutError``."""
    from websockets.sync.client import connect as open_connection

    connection = open_connection(
        endpoint.url(path, query), additional_headers=endpoint.headers(), user_agent_header=None, **options
    ).__enter__()  # entered as the context manager websockets asks for; close() leaves it
    return OpenAiSocket(connection)
