"""MCP servers as tool sets: one background event loop holds a session to each configured server, lists its
tools and offers them to the model through the registry (:class:`~appliance.tools.registry.ToolSet`).

Why one loop on one thread: the `mcp` SDK is async (anyio) and the rest of the appliance is threads; the
sessions live on the loop, and a tool call from the runner's thread is a bounded, cancellable hop into it
(:meth:`McpManager.call`). Nothing here delays readiness: :meth:`McpManager.start` returns at once, and a
server appears among the tools once it answered. A server that is down, slow, refuses the token or answers
garbage is left out and retried with backoff (1 s doubling up to ``mcp.retry_max_seconds``); a connected one
is pinged every ``mcp.ping_seconds`` and its list follows ``tools/list_changed``. The server's output is data:
it goes to the model as the call's output and nothing in it reaches settings or the tool list. How a server is
reached: :mod:`.connect`; its list and results read: :mod:`.tool_list`.

This module imports `mcp` at load time: import it only when servers are configured (it costs ~25 MB).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp.types as mt
from mcp import Client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from appliance.cancel import CancelToken
from appliance.config.mcp import McpSettings, ServerConfig
from appliance.config.secrets import Secrets
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Info
from appliance.mcp.connect import open_transport
from appliance.mcp.convert import cap_output
from appliance.mcp.tool_list import read_tools, result_text
from appliance.ports import Emit, ToolContext
from appliance.retry import RetryPolicy
from appliance.text.clean import clean_text
from appliance.tools.tool import Tool

log = logging.getLogger(__name__)

_STAGE = "mcp"


class ServerState(enum.StrEnum):
    STARTING = "starting"
    UP = "up"
    DOWN = "down"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class ServerStatus:
    """What doctor and ``ctl tools`` show of one server."""

    label: str
    transport: str
    where: str
    state: ServerState
    tools: int = 0
    detail: str = ""
    """Why it is down, or what was left out of its list (redacted)."""
    attempts: int = 0
    """Connections tried since it was last up."""
    protocol: str = ""
    """The MCP protocol version agreed with the server (when up)."""


@dataclass
class _Server:
    config: ServerConfig
    status: ServerStatus
    tools: tuple[Tool, ...] = ()
    client: Client | None = None
    refused: list[int] = field(default_factory=list)
    """HTTP statuses 401/403 seen on the current attempt."""


class McpManager:
    """Sessions to the configured MCP servers, their tools offered to the model (the registry attaches it)."""

    def __init__(self, settings: McpSettings, secrets: Secrets, emit: Emit | None = None) -> None:
        self._settings = settings
        self._secrets = secrets
        self._emit = emit
        self._servers = {
            c.label: _Server(c, ServerStatus(c.label, c.transport, c.where, ServerState.STARTING))
            for c in settings.server_list()
        }
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._offered: tuple[Tool, ...] = ()

    # --- lifecycle

    def start(self) -> None:
        """Start the loop and a supervisor per server; returns at once (no server delays readiness)."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            for server in self._servers.values():
                task = loop.create_task(self._supervise(server), name=f"mcp-{server.config.label}")
                task.add_done_callback(_report_end)
                self._tasks.append(task)
            loop.call_soon(started.set)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="mcp", daemon=True)
        self._thread.start()
        started.wait(5.0)

    def close(self, timeout: float = 5.0) -> None:
        """Close every session (stdio servers are stopped) and the loop, within about ``timeout`` seconds."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._lock:
            self._closing = True

        async def stop_all() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.wait(self._tasks, timeout=timeout)

        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(stop_all(), loop)
            try:
                future.result(timeout + 1.0)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError):
                log.warning("mcp: the sessions did not close within %.0f s", timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    # --- what the rest of the appliance reads

    def tools(self) -> Sequence[Tool]:
        """The tools offered now (:class:`~appliance.tools.registry.ToolSet`)."""
        return self._offered

    def status(self) -> list[ServerStatus]:
        with self._lock:
            return [s.status for s in self._servers.values()]

    def wait_for(self, predicate: Callable[[list[ServerStatus]], bool], timeout: float) -> bool:
        """Wait until ``predicate(status())`` holds (True) or ``timeout`` seconds pass (False)."""
        end = time.monotonic() + timeout
        with self._changed:
            while not predicate([s.status for s in self._servers.values()]):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def settled(self, timeout: float) -> bool:
        """Wait until every server was tried once (up, down or refused): doctor's view."""
        return self.wait_for(lambda all_: all(s.state is not ServerState.STARTING for s in all_), timeout)

    # --- a call, from the tool runner's thread

    def call(self, label: str, remote: str, arguments: dict[str, Any], cancel: CancelToken) -> str:
        """Call ``remote`` on server ``label``; its result as text for the model. Raises ApplianceError (the
        runner feeds its message back to the model) or Cancelled. Bounded by ``mcp.call_timeout``; a
        cancelled token (a press, stop, the runner's timeout) cancels the request on the loop."""
        loop = self._loop
        with self._lock:
            server = self._servers.get(label)
            client = server.client if server is not None else None
        if loop is None or client is None:
            raise ApplianceError(ErrorKind.TOOL_FAILED, f"the {label} server is not connected now", stage=_STAGE)
        cancel.check()
        timeout = self._settings.call_timeout
        future = asyncio.run_coroutine_threadsafe(client.call_tool(remote, arguments, timeout), loop)
        unlink = cancel.on_cancel(lambda: None if future.cancel() else None)
        try:
            result = future.result(timeout)
        except concurrent.futures.CancelledError:
            raise Cancelled(cancel.reason or "cancelled") from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ApplianceError(
                ErrorKind.TOOL_TIMEOUT, f"the {label} server gave no result within {timeout:g} s", stage=_STAGE
            ) from None
        except Exception as exc:  # the session or the transport failed: the model hears why
            raise ApplianceError(
                ErrorKind.TOOL_FAILED, f"the {label} server failed: {self._why(exc)}", stage=_STAGE
            ) from None
        finally:
            unlink()
        if cancel.cancelled:
            raise Cancelled(cancel.reason)
        text = cap_output(result_text(result), self._settings.max_output_kb * 1024)
        if result.is_error:
            raise ApplianceError(ErrorKind.TOOL_FAILED, f"the tool reported an error: {text}", stage=_STAGE)
        return text

    # --- the loop's side

    async def _supervise(self, server: _Server) -> None:
        label = server.config.label
        policy = RetryPolicy(base=1.0, cap=self._settings.retry_max_seconds, jitter=0.1)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            state, why = ServerState.DOWN, ""
            try:
                await self._session(server)
                why = "the connection ended"
            except asyncio.CancelledError:
                self._update(server, ServerState.DOWN, "closed", attempt, ())
                raise
            except Exception as exc:  # any failure of one server is its own: logged, reported, retried
                why = self._why(exc)
                if server.refused:
                    state = ServerState.UNAUTHORIZED
                    why = self._refused_why(server)
            if time.monotonic() - started > 60.0:
                attempt = 1  # it was up a while: start the backoff again
            delay = policy.backoff(attempt)
            self._update(server, state, f"{why}; retrying in {delay:.0f} s", attempt, ())
            log.warning("mcp %s: %s; retrying in %.1f s", label, self._secrets.redact(why), delay)
            await asyncio.sleep(delay)

    async def _session(self, server: _Server) -> None:
        """Connect, list, offer; then follow the list and ping until the connection fails (raises)."""
        settings = self._settings
        server.refused = []
        changed = asyncio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, mt.ToolListChangedNotification):
                changed.set()

        # One scope around the whole session (anyio's scopes close in the order they opened): its deadline
        # bounds the connection and the first list, then it is lifted for the life of the session.
        with anyio.CancelScope() as scope:
            scope.deadline = anyio.current_time() + settings.connect_timeout
            async with Client(self._transport(server), cache=None, message_handler=on_message) as client:
                tools, skipped = await self._list(server, client)
                scope.deadline = math.inf
                with self._lock:
                    server.client = client
                protocol = client.protocol_version
                self._update(server, ServerState.UP, skipped, 0, tools, protocol)
                log.info("mcp %s: up, %d tools (protocol %s)", server.config.label, len(tools), protocol)
                try:
                    async with anyio.create_task_group() as group:
                        group.start_soon(self._ping, server, client)
                        if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                            group.start_soon(self._listen, client, changed)
                        while True:
                            await changed.wait()
                            changed.clear()
                            with anyio.fail_after(settings.connect_timeout):
                                tools, skipped = await self._list(server, client)
                            self._update(server, ServerState.UP, skipped, 0, tools, protocol)
                            log.info("mcp %s: the tool list changed, %d tools", server.config.label, len(tools))
                finally:
                    with self._lock:
                        server.client = None
        if scope.cancelled_caught:
            raise TimeoutError(f"no tool list within {settings.connect_timeout:g} s")

    def _transport(self, server: _Server) -> Any:
        token = self._secrets.get("mcp", server.config.label)
        return open_transport(server.config, token, self._settings.connect_timeout, server.refused)

    async def _list(self, server: _Server, client: Client, *, quiet: bool = False) -> tuple[tuple[Tool, ...], str]:
        """The server's tools as function tools, and a line on what was left out or changed."""
        label = server.config.label
        made, notes = await read_tools(label, client, self._settings, functools.partial(self._caller, label))
        for line in [] if quiet else notes:
            log.info("mcp %s: %s", label, clean_text(line))
        return tuple(made), clean_text("; ".join(n for n in notes if n.startswith("left out")))

    def _caller(self, label: str, remote: str) -> Callable[..., str]:
        def call(ctx: ToolContext, **kwargs: Any) -> str:
            return self.call(label, remote, kwargs, ctx.cancel)

        return call

    async def _ping(self, server: _Server, client: Client) -> None:
        """Ask for the list every ``ping_seconds``: it proves the server is there (2026-07-28 dropped
        ``ping``) and catches a change the server did not announce."""
        while True:
            await anyio.sleep(self._settings.ping_seconds)
            with anyio.fail_after(self._settings.connect_timeout):
                tools, skipped = await self._list(server, client, quiet=True)
            if [t.spec() for t in tools] != [t.spec() for t in server.tools]:
                self._update(server, ServerState.UP, skipped, 0, tools, client.protocol_version)

    async def _listen(self, client: Client, changed: asyncio.Event) -> None:
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    changed.set()
        except ListenNotSupportedError:
            return
        raise ConnectionError("the server closed its change stream")

    def _update(
        self,
        server: _Server,
        state: ServerState,
        detail: str,
        attempts: int,
        tools: tuple[Tool, ...],
        protocol: str = "",
    ) -> None:
        detail = self._secrets.redact(clean_text(detail))
        with self._changed:
            before = server.status.state
            server.status = ServerStatus(
                server.config.label,
                server.config.transport,
                server.config.where,
                state,
                len(tools),
                detail,
                attempts,
                protocol,
            )
            server.tools = tools
            self._offered = tuple(t for s in self._servers.values() for t in s.tools)
            self._changed.notify_all()
            closing = self._closing
        if self._emit is not None and not closing and (state is not before or state is ServerState.UP):
            self._emit(Info("mcp_server", f"{server.config.label}: {state.value}, {len(tools)} tools; {detail}"))

    def _refused_why(self, server: _Server) -> str:
        code = server.refused[-1]
        variable = f"APPLIANCE_SECRET__MCP__{server.config.label.upper()}"
        if not self._secrets.get("mcp", server.config.label):
            return f"the server answered {code}: it needs a token ({variable} is not set)"
        return f"the server refused the token ({code}): check {variable}"

    def _why(self, exc: BaseException) -> str:
        """One line for an error, from the innermost exception of a group (anyio nests them)."""
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        text = str(exc) or type(exc).__name__
        return self._secrets.redact(clean_text(f"{type(exc).__name__}: {text}"))[:300]


def _report_end(task: asyncio.Task[None]) -> None:
    """A supervisor only ends when closed; one that ended on a bug says so (its server stays left out)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("mcp: %s stopped on an internal error", task.get_name(), exc_info=task.exception())
