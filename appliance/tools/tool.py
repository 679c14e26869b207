"""A tool as the model sees it (name, description, JSON schema) and as the appliance runs it.

Arguments from the model are checked before a tool runs (JSON, then the schema), and a bad call becomes a
:class:`BadToolCall` whose message goes back to the model so it can correct itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.ports import ToolContext
from appliance.tools.validation import validate

CONTENT_PART_TYPES = frozenset({"input_text", "input_image", "input_file"})

#: What a tool returns once normalized: text, or content parts (input_text / input_image / input_file)
#: that go into ``function_call_output.output`` as they are.
ToolOutput = str | list[dict[str, Any]]


class ToolError(Exception):
    """Base of the registry's errors."""


class ToolRegistrationError(ToolError):
    """A tool cannot be registered (bad name, a parameter without a type hint, an unusable schema...)."""


class BadToolCall(ToolError):
    """The model's call cannot run: unknown tool, arguments that are not JSON or do not fit the schema.

    The message is written for the model (it is sent back as the call's output)."""


@dataclass(frozen=True)
class FunctionCall:
    """One function call from the model, as it arrived (``arguments`` is the raw JSON text)."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] = field(repr=False)
    strict: bool = True
    wants_context: bool = False
    ends_turn: bool = False
    """After this tool (e.g. ``stop``) the turn ends without asking the model again."""
    accepted: frozenset[str] | None = None
    """Keyword arguments the function takes (None: it takes ``**kwargs``)."""
    defaults: frozenset[str] = frozenset()
    """Parameters with a default: a null argument leaves the default in place."""
    optional: frozenset[str] = frozenset()
    """Properties the schema had as optional (strict mode lists them as required but nullable): a call
    that leaves one out is taken as giving null."""
    converters: dict[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False)
    source: str = ""
    """Where the tool comes from: "" for built-in and plugin tools, else the label of its MCP server."""
    read_only: bool = False
    """Its source says it changes nothing (an MCP tool's ``readOnlyHint``)."""
    destructive: bool = False
    """Its source says it may change or destroy something (an MCP tool's ``destructiveHint``; MCP's default
    when a tool that is not read-only says nothing). Shown by ``ctl tools``."""
    confirm: bool = False
    """Its source marks it destructive in so many words (an MCP tool's ``destructiveHint: true``): the
    appliance asks the user before running it (:mod:`appliance.tools.confirm`)."""

    def spec(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list (a Responses API function tool)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }

    def bind(self, arguments: str) -> dict[str, Any]:
        """Parse and validate the model's JSON arguments into keyword arguments. Raises BadToolCall."""
        try:
            value = json.loads(arguments) if arguments and arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise BadToolCall(
                f"the arguments are not valid JSON ({exc.msg} at character {exc.pos}); "
                "send one JSON object that matches the tool's parameters"
            ) from None
        if not isinstance(value, dict):
            raise BadToolCall("the arguments must be one JSON object that matches the tool's parameters")
        for key in self.optional:
            value.setdefault(key, None)
        errors = validate(self.parameters, value)
        if errors:
            raise BadToolCall("the arguments do not match the tool's parameters: " + "; ".join(errors[:6]))
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            if item is None and key in self.defaults:
                continue
            if self.accepted is not None and key not in self.accepted:
                raise BadToolCall(f"unexpected argument {key!r}")
            convert = self.converters.get(key)
            kwargs[key] = convert(item) if convert is not None and item is not None else item
        return kwargs

    def invoke(self, ctx: ToolContext | None, kwargs: dict[str, Any]) -> ToolOutput:
        """Run the function (with ``ctx`` first when it wants one) and normalize what it returned."""
        if self.wants_context:
            return normalize_output(self.function(ctx, **kwargs))
        return normalize_output(self.function(**kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """A Tool made with :func:`tool` stays callable as the plain function."""
        return self.function(*args, **kwargs)


def normalize_output(value: Any) -> ToolOutput:
    """What a tool returned, as a function_call_output's ``output``: text, or a list of content parts.

    None becomes "Done."; other JSON values are sent as JSON text."""
    if value is None:
        return "Done."
    if isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(part, dict) and part.get("type") in CONTENT_PART_TYPES for part in value)
    ):
        return [dict(part) for part in value]
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
