"""From an MCP server's tool to a function tool the Responses API takes, and from its result to a tool output.

Pure: plain values in, plain values out, so the rules are tested without a server. The server's words are
data: its names are made safe, its descriptions cut short, its schemas trimmed (:func:`api_parameters`), and
its results cut to a size and handed to the model as the call's output, never read by the appliance.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.text.clean import clean_text
from appliance.tools.foreign_schema import api_parameters, strict_keywords_only
from appliance.tools.schema import NAME_PATTERN, make_strict
from appliance.tools.tool import Tool

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RemoteTool:
    """What the appliance needs of a listed tool, out of the SDK's object."""

    name: str
    description: str
    input_schema: Any
    read_only: bool | None = None
    destructive: bool | None = None


def exposed_name(label: str, remote: str) -> str:
    """``label_remote`` with anything the API refuses replaced by ``_``, at most 64 characters."""
    return f"{label}_{_UNSAFE.sub('_', remote).strip('_') or 'tool'}"[:64]


def short_description(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters: the first paragraph, whitespace folded, cut at a word."""
    first = clean_text(text or "").strip().split("\n\n", 1)[0]
    line = _SPACE.sub(" ", first).strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def make_tool(
    label: str, remote: RemoteTool, function: Callable[..., Any], *, description_chars: int
) -> tuple[Tool | None, str]:
    """The function tool for ``remote`` (None with the reason when it cannot be offered) and a note on
    what was changed ("" when nothing)."""
    name = exposed_name(label, remote.name)
    if not NAME_PATTERN.match(name):
        return None, f"{remote.name!r}: no usable name"
    parameters, notes = api_parameters(remote.input_schema)
    if parameters is None:
        return None, f"{remote.name}: {'; '.join(notes)}"
    optional = frozenset(set(parameters["properties"]) - set(parameters["required"]))
    strict_schema = make_strict(parameters) if strict_keywords_only(parameters) else None
    strict = strict_schema is not None
    if strict_schema is not None:
        parameters = strict_schema
    else:
        optional = frozenset()
    description = short_description(remote.description, description_chars) or f"{remote.name} (from {label})"
    read_only = bool(remote.read_only)
    # MCP's defaults: a tool is not read-only, and one that is not read-only may be destructive.
    destructive = not read_only and (remote.destructive if remote.destructive is not None else True)
    # Confirmed by voice only when the server says so: a server that says nothing (MCP's default) is not asked
    # about, or every call to it would need a "yes".
    confirm = not read_only and remote.destructive is True
    made = Tool(
        name=name,
        description=description,
        parameters=parameters,
        function=function,
        strict=strict,
        wants_context=True,
        accepted=None,
        defaults=optional,  # an optional argument given as null is left out: the server's default applies
        optional=optional,
        source=label,
        read_only=read_only,
        destructive=destructive,
        confirm=confirm,
    )
    if short_description(remote.description, 10_000) != description:
        notes.append("description shortened")
    return made, "; ".join(notes)


def cap_output(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, saying how much was left out."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[cut: {len(text) - max_chars} more characters were left out]"
