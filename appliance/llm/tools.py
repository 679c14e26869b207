"""The tool registry: plain Python functions the model may call, with a JSON schema for their arguments.

A tool is a function registered with a name, a description and a JSON schema. The schema is generated
from the type hints and the docstring (``Args:`` section) or given explicitly. Generated schemas are
"strict" (every property required, optional ones nullable, no extra properties), so the model's
arguments follow them; explicit ones are made strict when that is possible. A function whose first
parameter is annotated :class:`~appliance.ports.ToolContext` gets the turn's context there.

Arguments from the model are checked here before a tool runs (JSON, then the schema, with a small
validator for the subset the generator produces), and a bad call becomes a :class:`BadToolCall` whose
message goes back to the model so it can correct itself.

Third-party tools come from the entry-point group ``appliance.tools``: each entry point names a plain
function (registered under the entry point's name), a :class:`Tool` made with :func:`tool`, or a list of
those. A plugin that fails to load is logged and skipped; it never stops the appliance.
"""

from __future__ import annotations

import enum
import importlib.metadata
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..ports import ToolContext

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "appliance.tools"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
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

    def spec(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list (a Responses API function tool)."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters, "strict": self.strict}

    def bind(self, arguments: str) -> dict[str, Any]:
        """Parse and validate the model's JSON arguments into keyword arguments. Raises BadToolCall."""
        try:
            value = json.loads(arguments) if arguments and arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise BadToolCall(f"the arguments are not valid JSON ({exc.msg} at character {exc.pos}); "
                              "send one JSON object that matches the tool's parameters") from None
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


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None, parameters: dict[str, Any] | None = None,
         strict: bool | None = None, ends_turn: bool = False) -> Any:
    """Make a :class:`Tool` from a function; usable as ``@tool`` or ``@tool(name=..., ...)``.

    ``parameters`` given: that schema is used (made strict when ``strict`` is None and it can be).
    Otherwise it is generated from the type hints; the description defaults to the docstring's first
    paragraph."""

    def build(fn: Callable[..., Any]) -> Tool:
        return _build(fn, name=name, description=description, parameters=parameters, strict=strict,
                      ends_turn=ends_turn)

    return build(function) if function is not None else build


class ToolRegistry:
    """The tools the model is offered, by name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self.load_errors: list[str] = []
        """One line per plugin that could not be loaded (also logged)."""

    def register(self, function: Callable[..., Any] | None = None, *, name: str | None = None,
                 description: str | None = None, parameters: dict[str, Any] | None = None,
                 strict: bool | None = None, ends_turn: bool = False) -> Any:
        """Register a function (also as a decorator: ``@registry.register`` or with keywords).

        Returns the function unchanged, so a decorated function can still be called directly."""

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            if isinstance(fn, Tool):
                self.add(fn)
                return fn
            self.add(_build(fn, name=name, description=description, parameters=parameters, strict=strict,
                            ends_turn=ends_turn))
            return fn

        return add(function) if function is not None else add

    def add(self, item: Tool, *, replace: bool = False) -> None:
        if item.name in self._tools and not replace:
            raise ToolRegistrationError(f"a tool named {item.name!r} is already registered")
        self._tools[item.name] = item

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self._tools.values()]

    def bind(self, name: str, arguments: str) -> tuple[Tool, dict[str, Any]]:
        """The tool and its keyword arguments for a call from the model. Raises BadToolCall."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(sorted(self._tools)) or "none"
            raise BadToolCall(f"there is no tool named {name!r} (available tools: {known})")
        return found, found.bind(arguments)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register the tools that installed packages declare in ``group``; returns their names."""
        loaded: list[str] = []
        for entry in importlib.metadata.entry_points(group=group):
            try:
                found = _as_tools(entry.load(), entry.name)
            except Exception as exc:  # a broken plugin is reported and skipped, never fatal
                self._load_error(f"tool plugin {entry.name!r} ({entry.value}) could not be loaded: "
                                 f"{type(exc).__name__}: {exc}")
                continue
            for item in found:
                if item.name in self._tools:
                    self._load_error(f"tool plugin {entry.name!r}: a tool named {item.name!r} already "
                                     "exists; the plugin's one is ignored")
                    continue
                self.add(item)
                loaded.append(item.name)
        if loaded:
            log.info("tools from plugins: %s", ", ".join(loaded))
        return loaded

    def _load_error(self, message: str) -> None:
        log.error("%s", message)
        self.load_errors.append(message)


def default_registry(*, camera: bool = True, plugins: bool = True) -> ToolRegistry:
    """The built-in tools (date/time, volume, stop, reset, describe_image unless ``camera`` is False)
    plus the tools of installed plugins."""
    from .builtin_tools import register_builtin_tools

    registry = ToolRegistry()
    register_builtin_tools(registry, camera=camera)
    if plugins:
        registry.load_entry_points()
    return registry


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
        return [_build(obj, name=entry_name)]
    raise ToolRegistrationError(f"expected a function, a Tool or a list of Tools, got {type(obj).__name__}")


# --- building a Tool from a function ----------------------------------------------------------------

def _build(function: Callable[..., Any], *, name: str | None = None, description: str | None = None,
           parameters: dict[str, Any] | None = None, strict: bool | None = None,
           ends_turn: bool = False) -> Tool:
    if not callable(function):
        raise ToolRegistrationError(f"a tool must be callable, not {type(function).__name__}")
    tool_name = name or getattr(function, "__name__", "")
    if not NAME_PATTERN.match(tool_name):
        raise ToolRegistrationError(f"tool name {tool_name!r} must be 1-64 letters, digits, _ or -")
    summary, param_docs = parse_docstring(inspect.getdoc(function) or "")
    signature = inspect.signature(function)
    hints = _hints(function)
    params = list(signature.parameters.values())
    wants_context = bool(params) and _is_context(params[0], hints)
    if wants_context:
        params = params[1:]
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            raise ToolRegistrationError(f"tool {tool_name!r}: parameter {p.name!r} must be passable by keyword")
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    defaults = frozenset(p.name for p in named if p.default is not p.empty)
    converters = {p.name: conv for p in named if (conv := _converter(hints.get(p.name))) is not None}

    if parameters is None:
        parameters = _generate_schema(tool_name, named, hints, param_docs)
    else:
        parameters = json.loads(json.dumps(parameters))  # a private copy, and proof it is plain JSON
        if parameters.get("type") != "object":
            raise ToolRegistrationError(f"tool {tool_name!r}: the parameters schema must be an object schema")
        unknown = set(parameters.get("properties", {})) - {p.name for p in named}
        if unknown and not takes_kwargs:
            raise ToolRegistrationError(f"tool {tool_name!r}: schema properties {sorted(unknown)} are not "
                                        "parameters of the function")
        missing = {p.name for p in named if p.default is p.empty} - set(parameters.get("properties", {}))
        if missing:
            raise ToolRegistrationError(f"tool {tool_name!r}: required parameters {sorted(missing)} are "
                                        "not in the schema")

    optional = frozenset(set(parameters.get("properties", {})) - set(parameters.get("required", [])))
    if strict is not False:
        strict_schema = make_strict(parameters)
        if strict_schema is not None:
            parameters, strict = strict_schema, True
        elif strict:
            raise ToolRegistrationError(f"tool {tool_name!r}: the schema cannot be made strict")
        else:
            strict, optional = False, frozenset()
    else:
        optional = frozenset()
    text = (description if description is not None else summary).strip()
    if not text:
        raise ToolRegistrationError(f"tool {tool_name!r} needs a description (or a docstring)")
    return Tool(name=tool_name, description=text, parameters=parameters, function=function,
                strict=bool(strict), wants_context=wants_context, ends_turn=ends_turn,
                accepted=None if takes_kwargs else frozenset(p.name for p in named),
                defaults=defaults, optional=optional, converters=converters)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    target = function if inspect.isfunction(function) or inspect.ismethod(function) else type(function).__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # an annotation naming something that cannot be imported
        raise ToolRegistrationError(f"cannot read the type hints of {function!r}: {exc}") from exc


def _is_context(param: inspect.Parameter, hints: dict[str, Any]) -> bool:
    hint = hints.get(param.name)
    if hint is None:
        return param.name in ("ctx", "context")
    base = _strip_annotated(hint)
    return isinstance(base, type) and issubclass(base, ToolContext)


def _generate_schema(tool_name: str, params: list[inspect.Parameter], hints: dict[str, Any],
                     docs: dict[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for p in params:
        if p.name not in hints:
            raise ToolRegistrationError(f"tool {tool_name!r}: parameter {p.name!r} needs a type hint "
                                        "(or give the schema explicitly)")
        try:
            prop = schema_for_type(hints[p.name])
        except TypeError as exc:
            raise ToolRegistrationError(f"tool {tool_name!r}: parameter {p.name!r}: {exc}") from None
        if p.name in docs and "description" not in prop:
            prop["description"] = docs[p.name]
        if p.default is not p.empty and p.default is not None:
            prop["description"] = (prop.get("description", "") + f" (default: {p.default!r})").strip()
        properties[p.name] = prop
    required = [p.name for p in params if p.default is p.empty]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def schema_for_type(hint: Any) -> dict[str, Any]:
    """JSON schema for a type hint: str, int, float, bool, Literal, Enum, list[T], T | None, Annotated."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = schema_for_type(args[0])
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = notes[0]
        return schema
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(others) < len(args):
            return nullable(schema_for_type(others[0]))
        raise TypeError(f"unions other than X | None are not supported: {hint!r}")
    if origin is typing.Literal:
        kinds = {_json_type_name(a) for a in args}
        if len(kinds) != 1:
            raise TypeError(f"a Literal must hold values of one type: {hint!r}")
        return {"type": kinds.pop(), "enum": list(args)}
    if origin in (list, tuple, set, frozenset):
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            raise TypeError(f"say what the list holds, e.g. list[str]: {hint!r}")
        return {"type": "array", "items": schema_for_type(args[0])}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        kinds = {_json_type_name(v) for v in values}
        if len(kinds) != 1:
            raise TypeError(f"an Enum's values must be of one type: {hint!r}")
        return {"type": kinds.pop(), "enum": values}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"unsupported type {hint!r} (use str, int, float, bool, Literal, Enum, list[...], "
                    "or give the schema explicitly)")


def nullable(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``schema`` that also accepts null, or None when that cannot be said simply."""
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind] if kind == "null" else [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            out["type"] = [*kind, "null"]
    elif "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        return out
    else:
        return None
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def make_strict(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A strict-mode version of ``schema`` (every object: all properties required, optional ones
    nullable, no additional properties), or None when the schema has parts strict mode cannot take."""
    if not isinstance(schema, dict):
        return None
    out = dict(schema)
    kind = out.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds:
        props = out.get("properties", {})
        if out.get("additionalProperties") not in (None, False) or not isinstance(props, dict):
            return None
        required = set(out.get("required", []))
        new_props = {}
        for name, prop in props.items():
            strict_prop = make_strict(prop)
            if strict_prop is None:
                return None
            if name not in required:
                strict_prop = nullable(strict_prop)
                if strict_prop is None:
                    return None
            new_props[name] = strict_prop
        out["properties"] = new_props
        out["required"] = list(props)
        out["additionalProperties"] = False
    if "array" in kinds:
        items = out.get("items")
        if not isinstance(items, dict):
            return None
        strict_items = make_strict(items)
        if strict_items is None:
            return None
        out["items"] = strict_items
    if "anyOf" in out:
        branches = [make_strict(b) for b in out["anyOf"]]
        if any(b is None for b in branches):
            return None
        out["anyOf"] = branches
    elif kind is None and "enum" not in out and "const" not in out:
        return None  # an untyped value: strict mode needs a type
    return out


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """JSON gives 3.0 for 3 now and then, and strings for enums: hand the function what it declared."""
    if hint is None:
        return None
    base = _strip_annotated(hint)
    origin = typing.get_origin(base)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(base) if a is not type(None)]
        if len(others) != 1:
            return None
        base = _strip_annotated(others[0])
    if base is int:
        return lambda v: int(v) if isinstance(v, float) and v.is_integer() else v
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return base
    return None


def _strip_annotated(hint: Any) -> Any:
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint


def _json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise TypeError(f"unsupported value {value!r}")


_DOC_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$")
_DOC_PARAM = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(first paragraph, {parameter: description}) from a Google-style ``Args:`` or ``:param x:`` docstring."""
    lines = doc.strip().splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section = ""
    current = ""
    in_summary = True
    for line in lines:
        stripped = line.strip()
        header = _DOC_SECTION.match(stripped)
        sphinx = _SPHINX_PARAM.match(stripped)
        if header:
            section, current, in_summary = header.group(1).lower(), "", False
            continue
        if sphinx:
            in_summary = False
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            continue
        if in_summary:
            if not stripped:
                if summary:
                    in_summary = False
                continue
            summary.append(stripped)
            continue
        if section in ("args", "arguments", "parameters"):
            match = _DOC_PARAM.match(line)
            indent = len(line) - len(line.lstrip())
            if match and indent <= 4:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and stripped:
                params[current] = (params[current] + " " + stripped).strip()
        elif current and stripped and not section:
            params[current] = (params[current] + " " + stripped).strip()
    return " ".join(summary), params


# --- validation ---------------------------------------------------------------------------------------

def validate(schema: dict[str, Any], value: Any, path: str = "arguments") -> list[str]:
    """Errors (empty when valid) of ``value`` against the JSON-schema subset the registry produces:
    type (one or a list), enum, const, properties, required, additionalProperties, items, anyOf,
    minimum/maximum, minLength/maxLength, minItems/maxItems."""
    errors: list[str] = []
    if "anyOf" in schema:
        branch_errors = [validate(branch, value, path) for branch in schema["anyOf"]]
        if all(branch_errors):
            errors.append(branch_errors[0][0] if branch_errors and branch_errors[0] else f"{path}: no match")
            return errors
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, k) for k in kinds):
            return [f"{path} must be {' or '.join(kinds)}, not {_describe(value)}"]
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        options = ", ".join(json.dumps(o) for o in schema["enum"])
        return [f"{path} must be one of {options}, not {json.dumps(value)}"]
    if "const" in schema and not _same(value, schema["const"]):
        return [f"{path} must be {json.dumps(schema['const'])}"]
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}.{name} is required")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                errors.extend(validate(props[key], item, f"{path}.{key}"))
            elif extra is False:
                errors.append(f"{path}.{key} is not a known parameter (known: {', '.join(props) or 'none'})")
            elif isinstance(extra, dict):
                errors.extend(validate(extra, item, f"{path}.{key}"))
    elif isinstance(value, list):
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                errors.extend(validate(schema["items"], item, f"{path}[{index}]"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path} takes at most {schema['maxItems']} items")
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path} must be at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path} must be at most {schema['maxLength']} characters")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path} must be at most {schema['maximum']}")
    return errors


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _describe(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# --- outputs --------------------------------------------------------------------------------------------

def normalize_output(value: Any) -> ToolOutput:
    """What a tool returned, as a function_call_output's ``output``: text, or a list of content parts.

    None becomes "Done."; other JSON values are sent as JSON text."""
    if value is None:
        return "Done."
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(
            isinstance(part, dict) and part.get("type") in CONTENT_PART_TYPES for part in value):
        return [dict(part) for part in value]
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
