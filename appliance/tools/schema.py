"""A tool's JSON schema, generated from the function's type hints and docstring, made strict.

Generated schemas are "strict" (every property required, optional ones nullable, no extra properties), so
the model's arguments follow them; explicit ones are made strict when that is possible. A function whose
first parameter is annotated :class:`~appliance.ports.ToolContext` gets the turn's context there.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from appliance.ports import ToolContext
from appliance.tools.tool import Tool, ToolRegistrationError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def build_tool(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    strict: bool | None = None,
    ends_turn: bool = False,
) -> Tool:
    if not callable(function):
        raise ToolRegistrationError(f"a tool must be callable, not {type(function).__name__}")
    tool_name = str(name or getattr(function, "__name__", ""))
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
            raise ToolRegistrationError(
                f"tool {tool_name!r}: schema properties {sorted(unknown)} are not parameters of the function"
            )
        missing = {p.name for p in named if p.default is p.empty} - set(parameters.get("properties", {}))
        if missing:
            raise ToolRegistrationError(
                f"tool {tool_name!r}: required parameters {sorted(missing)} are not in the schema"
            )

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
    return Tool(
        name=tool_name,
        description=text,
        parameters=parameters,
        function=function,
        strict=bool(strict),
        wants_context=wants_context,
        ends_turn=ends_turn,
        accepted=None if takes_kwargs else frozenset(p.name for p in named),
        defaults=defaults,
        optional=optional,
        converters=converters,
    )


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


def _generate_schema(
    tool_name: str, params: list[inspect.Parameter], hints: dict[str, Any], docs: dict[str, str]
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for p in params:
        if p.name not in hints:
            raise ToolRegistrationError(
                f"tool {tool_name!r}: parameter {p.name!r} needs a type hint (or give the schema explicitly)"
            )
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
            made = nullable(schema_for_type(others[0]))
            if made is None:
                raise TypeError(f"cannot make {others[0]!r} nullable")
            return made
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
    raise TypeError(
        f"unsupported type {hint!r} (use str, int, float, bool, Literal, Enum, list[...], "
        "or give the schema explicitly)"
    )


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
        if {"type": "null"} not in out["anyOf"]:  # pydantic writes `X | None` as anyOf [X, null] already
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
