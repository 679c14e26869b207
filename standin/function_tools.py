"""What the Responses API refuses in a function tool, for the stand-in to answer 400 as the API does.

The rules are the API's documented and observed ones (its error messages are quoted): a name of 1-64
letters, digits, ``_`` or ``-``; parameters that are an object schema without a combinator, ``enum`` or
``not`` at the root; every array with its ``items``; and, with ``strict``, every object listing all its
properties as required with ``additionalProperties: false`` and every value typed.
"""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROOT_REFUSED = ("oneOf", "anyOf", "allOf", "enum", "not")


def function_tool_problem(tool: dict[str, Any], number: int) -> str | None:
    """The API's message for what it refuses in ``tool`` (the request's ``tools[number]``), or None."""
    where = f"tools[{number}]"
    name = tool.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"Invalid '{where}.name': string does not match pattern. Expected a string that matches the "
            "pattern '^[a-zA-Z0-9_-]+$'."
        )
    schema = tool.get("parameters")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        kind = schema.get("type") if isinstance(schema, dict) else None
        return (
            f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"', "
            f"got 'type: \"{kind}\"'."
        )
    refused = [key for key in _ROOT_REFUSED if key in schema]
    if refused:
        return (
            f"Invalid schema for function '{name}': schema must have type 'object' and not have "
            f"'oneOf'/'anyOf'/'allOf'/'enum'/'not' at the top level."
        )
    problem = _node_problem(schema, (), bool(tool.get("strict")))
    return f"Invalid schema for function '{name}': {problem}" if problem else None


def _node_problem(node: Any, context: tuple[str, ...], strict: bool) -> str | None:
    if not isinstance(node, dict):
        return f"In context={context}, schema must be a JSON object."
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if strict and node.get("type") is None and not any(k in node for k in ("anyOf", "enum", "const", "$ref")):
        return f"In context={context}, schema must have a 'type' key."
    if "array" in kinds and not isinstance(node.get("items"), dict):
        return f"In context={context}, array schema missing items."
    if "object" in kinds:
        props = node.get("properties", {})
        if strict:
            missing = [p for p in props if p not in (node.get("required") or [])]
            if missing:
                return (
                    f"In context={context}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            if node.get("additionalProperties") is not False:
                return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
        for key, sub in props.items():
            problem = _node_problem(sub, (*context, "properties", key), strict)
            if problem:
                return problem
    if isinstance(node.get("items"), dict):
        problem = _node_problem(node["items"], (*context, "items"), strict)
        if problem:
            return problem
    for index, branch in enumerate(node.get("anyOf") or []):
        problem = _node_problem(branch, (*context, "anyOf", str(index)), strict)
        if problem:
            return problem
    return None
