"""How the appliance reaches one MCP server: a stdio child, or streamable HTTP with its token (401/403 noted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from appliance.config.mcp import ServerConfig


def open_transport(config: ServerConfig, token: str, connect_timeout: float, refused: list[int]) -> Any:
    """The transport for ``config``'s server (``token``: its bearer token, "" for none); every 401 or 403 the
    server answers is appended to ``refused``."""
    if config.transport == "stdio":
        program, *args = config.command
        return stdio_client(StdioServerParameters(command=program, args=args))
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    async def watch(response: httpx2.Response) -> None:
        if response.status_code in (401, 403):
            refused.append(response.status_code)

    http = httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(connect_timeout, read=300.0),
        event_hooks={"response": [watch]},
    )
    return _http_transport(config.url, http)


@asynccontextmanager
async def _http_transport(url: str, http: httpx2.AsyncClient) -> AsyncIterator[Any]:
    """Streamable HTTP on our own client (for the token header and the 401 watch), closed with the session:
    the SDK leaves a client it was given open."""
    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams
