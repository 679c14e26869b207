"""The tool registry: the tools the model is offered, by name, and third-party tools from entry points.

Third-party tools come from the entry-point group ``appliance.tools``: each entry point names a plain
function (registered under the entry point's name), a :class:`~appliance.tools.tool.Tool` made with
:func:`tool`, or a list of those. A plugin that fails to load is logged and skipped; it never stops the
appliance.

Tool sets (:class:`ToolSet`, e.g. an MCP server's tools) are attached whole and read on every use: what they
hold may change at any moment (a server comes up, goes down, changes its list), so ``specs()`` and ``bind()``
see the tools offered *now*. A tool registered here wins over a tool set's tool of the same name.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from appliance.tools.schema import build_tool
from appliance.tools.tool import BadToolCall, Tool, ToolRegistrationError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "appliance.tools"


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    strict: bool | None = None,
    ends_turn: bool = False,
) -> Any:
    """Make a :class:`Tool` from a function; usable as ``@tool`` or ``@tool(name=..., ...)``.

    ``parameters`` given: that schema is used (made strict when ``strict`` is None and it can be).
    Otherwise it is generated from the type hints; the description defaults to the docstring's first
    paragraph."""

    def build(fn: Callable[..., Any]) -> Tool:
        return build_tool(
            fn, name=name, description=description, parameters=parameters, strict=strict, ends_turn=ends_turn
        )

    return build(function) if function is not None else build


class ToolSet(Protocol):
    """Tools that come and go (an MCP server's): ``tools()`` is what the set offers now. Called from any
    thread, on every request: it must be quick and return a snapshot (the set replaces its list whole)."""

    def tools(self) -> Sequence[Tool]: ...


class ToolRegistry:
    """The tools the model is offered, by name: the registered ones, then those of attached tool sets."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._sets: list[ToolSet] = []
        self._lock = threading.Lock()
        self.load_errors: list[str] = []
        """One line per plugin that could not be loaded (also logged)."""

    def register(
        self,
        function: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        strict: bool | None = None,
        ends_turn: bool = False,
    ) -> Any:
        """Register a function (also as a decorator: ``@registry.register`` or with keywords).

        Returns the function unchanged, so a decorated function can still be called directly."""

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            if isinstance(fn, Tool):
                self.add(fn)
                return fn
            self.add(
                build_tool(
                    fn, name=name, description=description, parameters=parameters, strict=strict, ends_turn=ends_turn
                )
            )
            return fn

        return add(function) if function is not None else add

    def add(self, item: Tool, *, replace: bool = False) -> None:
        with self._lock:
            if item.name in self._tools and not replace:
                raise ToolRegistrationError(f"a tool named {item.name!r} is already registered")
            self._tools[item.name] = item

    def remove(self, name: str) -> None:
        with self._lock:
            self._tools.pop(name, None)

    def attach(self, toolset: ToolSet) -> None:
        """Offer ``toolset``'s tools too, whatever it holds at each request."""
        with self._lock:
            self._sets.append(toolset)

    def _current(self) -> dict[str, Tool]:
        """Every tool offered now, by name: registered ones first, then each set's (a name taken is skipped)."""
        with self._lock:
            found = dict(self._tools)
            sets = list(self._sets)
        for toolset in sets:
            for item in toolset.tools():
                found.setdefault(item.name, item)
        return found

    def get(self, name: str) -> Tool | None:
        return self._current().get(name)

    def names(self) -> list[str]:
        return list(self._current())

    def __contains__(self, name: object) -> bool:
        return name in self._current()

    def __len__(self) -> int:
        return len(self._current())

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._current().values()))

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self._current().values()]

    def bind(self, name: str, arguments: str) -> tuple[Tool, dict[str, Any]]:
        """The tool and its keyword arguments for a call from the model. Raises BadToolCall."""
        tools = self._current()
        found = tools.get(name)
        if found is None:
            known = ", ".join(sorted(tools)) or "none"
            raise BadToolCall(f"there is no tool named {name!r} (available tools: {known})")
        return found, found.bind(arguments)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register the tools that installed packages declare in ``group``; returns their names."""
        loaded: list[str] = []
        for entry in importlib.metadata.entry_points(group=group):
            try:
                found = _as_tools(entry.load(), entry.name)
            except Exception as exc:  # a broken plugin is reported and skipped, never fatal
                self._load_error(
                    f"tool plugin {entry.name!r} ({entry.value}) could not be loaded: {type(exc).__name__}: {exc}"
                )
                continue
            for item in found:
                if item.name in self:
                    self._load_error(
                        f"tool plugin {entry.name!r}: a tool named {item.name!r} already "
                        "exists; the plugin's one is ignored"
                    )
                    continue
                self.add(item)
                loaded.append(item.name)
        if loaded:
            log.info("tools from plugins: %s", ", ".join(loaded))
        return loaded

    def _load_error(self, message: str) -> None:
        log.error("%s", message)
        self.load_errors.append(message)


def _as_tools(obj: Any, entry_name: str) -> list[Tool]:
    if isinstance(obj, Tool):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out: list[Tool] = []
        for item in obj:
            if not isinstance(item, Tool):
                raise ToolRegistrationError(f"a list of tools must hold Tool objects, not {type(item).__name__}")
            out.append(item)
        return out
    if callable(obj):
        return [build_tool(obj, name=entry_name)]
    raise ToolRegistrationError(f"expected a function, a Tool or a list of Tools, got {type(obj).__name__}")
