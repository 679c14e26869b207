"""Settings of the MCP servers: the `[mcp]` section of the settings (appliance/config/settings.py).

Each server is a table under ``[mcp.servers.<label>]``: ``url`` (streamable HTTP) or ``command`` (stdio: a
list, the program and its arguments, which the appliance starts and restarts). The label prefixes the
server's tool names (``home_light_set``). A bearer token never lives in the file: it comes from the
environment as ``APPLIANCE_SECRET__MCP__<LABEL>`` (see :mod:`appliance.config.secrets`), so it is redacted from
every log line, event and doctor report like the API keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from appliance.config.types import Section, SettingsError, check_range

LABEL = re.compile(r"^[a-z][a-z0-9]{0,15}$")
SERVER_KEYS = ("url", "command")


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server, parsed and checked."""

    label: str
    transport: Literal["http", "stdio"]
    url: str = ""
    command: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """What the server is, for doctor and the logs (no secret: the token is a header, not in the URL)."""
        return self.url if self.transport == "http" else " ".join(self.command)


@dataclass
class McpSettings(Section):
    servers: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
    """MCP servers whose tools the model is offered, by label (lower-case letters and digits, at most 16):
    `[mcp.servers.home]` with `url = "http://homeassistant.local:8123/api/mcp"` (streamable HTTP; the bearer
    token comes from the environment as `APPLIANCE_SECRET__MCP__HOME`), or `command = ["uvx", "some-server"]`
    (stdio: the appliance starts the program and restarts it when it dies). docs/home-assistant.md has the
    steps."""
    connect_timeout: float = 10.0
    """Seconds to connect to a server and list its tools; a server slower than this is left out and retried."""
    call_timeout: float = 30.0
    """The longest one call to a server's tool may take (the turn's `assistant.tool_timeout` and deadline
    usually stop it sooner)."""
    retry_max_seconds: float = 300.0
    """A server that is down is retried after 1 s, then twice as long each time, up to this long."""
    ping_seconds: float = 30.0
    """How often a connected server's tool list is read again: a server that went away is noticed (and
    retried), and a change it did not announce is taken."""
    max_output_kb: int = 16
    """A tool's output is cut to this many kilobytes of text before it goes to the model."""
    description_chars: int = 300
    """A tool's description is cut to this many characters (a server's long manual costs tokens every turn)."""
    max_tools: int = 64
    """The most tools taken from one server (the first ones it lists)."""

    def validate(self) -> None:
        check_range("mcp.connect_timeout", self.connect_timeout, 0.5, 120.0)
        check_range("mcp.call_timeout", self.call_timeout, 0.5, 600.0)
        check_range("mcp.retry_max_seconds", self.retry_max_seconds, 1.0, 3600.0)
        check_range("mcp.ping_seconds", self.ping_seconds, 0.2, 3600.0)
        check_range("mcp.max_output_kb", self.max_output_kb, 1, 1024)
        check_range("mcp.description_chars", self.description_chars, 40, 1024)
        check_range("mcp.max_tools", self.max_tools, 1, 128)
        parse_servers(self.servers)

    def server_list(self) -> list[ServerConfig]:
        return parse_servers(self.servers)


def parse_servers(servers: Mapping[str, Mapping[str, str | list[str] | tuple[str, ...]]]) -> list[ServerConfig]:
    """The configured servers, checked: a label that can be an environment variable's part, one transport."""
    out: list[ServerConfig] = []
    for label, table in servers.items():
        where = f"mcp.servers.{label}"
        if not LABEL.match(label):
            raise SettingsError(f"{where}: the label must be 1-16 lower-case letters and digits, a letter first")
        unknown = sorted(set(table) - set(SERVER_KEYS))
        if unknown:
            raise SettingsError(
                f"{where}: unknown key {unknown[0]!r} (known: url, command; the token comes from the environment "
                f"as APPLIANCE_SECRET__MCP__{label.upper()})"
            )
        url, command = table.get("url"), table.get("command")
        if (url is None) == (command is None):
            raise SettingsError(f"{where}: give either url (streamable HTTP) or command (stdio)")
        if url is not None:
            if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
                raise SettingsError(f"{where}.url: expected an http:// or https:// address, got {url!r}")
            out.append(ServerConfig(label, "http", url=url))
            continue
        if isinstance(command, str):
            raise SettingsError(f'{where}.command: expected a list, the program and its arguments (["prog", "--flag"])')
        if not command or not all(isinstance(part, str) and part for part in command):
            raise SettingsError(f"{where}.command: name the program to start")
        out.append(ServerConfig(label, "stdio", command=tuple(command)))
    return out
