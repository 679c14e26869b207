"""What a server gives the model: its tool list read into function tools, and a call's result read into text."""

from __future__ import annotations

import json
from collections.abc import Callable

import mcp.types as mt
from mcp import Client

from appliance.config.mcp import McpSettings
from appliance.mcp.convert import RemoteTool, make_tool
from appliance.tools.tool import Tool

#: Pages of a tools/list read at most (a server that pages forever is garbage).
MAX_PAGES = 20


async def read_tools(
    label: str, client: Client, settings: McpSettings, caller: Callable[[str], Callable[..., str]]
) -> tuple[list[Tool], list[str]]:
    """Server ``label``'s tools as function tools (at most ``mcp.max_tools``, names unique; ``caller(name)``
    runs the remote tool ``name``), and notes on what was left out or changed."""
    listed: list[mt.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        listed.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    made: list[Tool] = []
    notes: list[str] = []
    names: set[str] = set()
    for item in listed:
        if len(made) >= settings.max_tools:
            notes.append(f"only the first {settings.max_tools} tools are offered")
            break
        remote = RemoteTool(
            name=item.name,
            description=item.description or "",
            input_schema=item.input_schema,
            read_only=item.annotations.read_only_hint if item.annotations else None,
            destructive=item.annotations.destructive_hint if item.annotations else None,
        )
        tool, note = make_tool(label, remote, caller(item.name), description_chars=settings.description_chars)
        if tool is None or tool.name in names:
            notes.append(f"left out {note or item.name + ' (its name is taken)'}")
            continue
        if note:
            notes.append(f"{item.name}: {note}")
        names.add(tool.name)
        made.append(tool)
    return made, notes


def result_text(result: mt.CallToolResult) -> str:
    """A tool result as text for the model: its text parts, a word for anything else (images, audio)."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mt.TextContent):
            parts.append(block.text)
        elif isinstance(block, mt.EmbeddedResource) and isinstance(block.resource, mt.TextResourceContents):
            parts.append(block.resource.text)
        elif isinstance(block, mt.ResourceLink):
            parts.append(f"[resource: {block.uri}]")
        else:
            parts.append(f"[{block.type} content left out]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts) if parts else "Done."
