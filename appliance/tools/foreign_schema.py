"""A tool's input schema from elsewhere (an MCP server), checked and trimmed to what the Responses API takes."""

from __future__ import annotations

import json
from typing import Any

#: Keywords kept in a schema from elsewhere; the rest (titles, examples, defaults, ``$schema``, conditionals,
#: vendor extensions) is dropped: the API refuses some of them and the others cost tokens on every request.
API_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "$ref",
        "$defs",
        "definitions",
    }
)
#: Keywords strict mode takes (the others, e.g. minLength, make a strict request fail): a schema from
#: elsewhere that uses another is sent without ``strict``.
STRICT_KEYWORDS = API_KEYWORDS - {"minLength", "maxLength"}
#: The root of a function's parameters must be a plain object: the API refuses these there.
ROOT_REFUSED = frozenset({"anyOf", "oneOf", "allOf", "not", "enum", "const"})
MAX_SCHEMA_DEPTH = 10
MAX_SCHEMA_CHARS = 16_000
MAX_DESCRIPTION_CHARS = 300
_JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def api_parameters(schema: object) -> tuple[dict[str, Any] | None, list[str]]:
    """``schema`` (a tool's input schema from elsewhere) trimmed to what the Responses API accepts, and what
    was changed; None (with the reason) when no usable schema is left.

    The root must be an object schema (a missing type is taken as one); combinators at the root are dropped
    (the validator still checks the properties), keywords outside :data:`API_KEYWORDS` are dropped at every
    depth, an untyped array item becomes a string-or-number-or-boolean item, descriptions are cut to
    :data:`MAX_DESCRIPTION_CHARS`, and a schema nested deeper than :data:`MAX_SCHEMA_DEPTH` or longer than
    :data:`MAX_SCHEMA_CHARS` as JSON is refused."""
    notes: list[str] = []
    if not isinstance(schema, dict):
        return None, ["the input schema is not a JSON object"]
    kind = schema.get("type", "object")
    if kind != "object":
        return None, [f"the input schema's type is {kind!r}, not 'object'"]
    root = {k: v for k, v in schema.items() if k not in ROOT_REFUSED}
    dropped = sorted(set(schema) & ROOT_REFUSED)
    if dropped:
        notes.append(f"dropped {', '.join(dropped)} at the root")
    root["type"] = "object"
    try:
        trimmed = _trim(root, 0, notes)
    except ValueError as exc:
        return None, [str(exc)]
    if not isinstance(trimmed.get("properties", {}), dict):
        return None, ["properties is not an object"]
    trimmed.setdefault("properties", {})
    required = trimmed.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None, ["required is not a list of names"]
    trimmed["required"] = [r for r in required if r in trimmed["properties"]]
    if len(json.dumps(trimmed)) > MAX_SCHEMA_CHARS:
        return None, [f"the input schema is longer than {MAX_SCHEMA_CHARS} characters"]
    return trimmed, notes


def _trim(node: Any, depth: int, notes: list[str]) -> Any:
    if depth > MAX_SCHEMA_DEPTH:
        raise ValueError(f"the input schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")
    if isinstance(node, list):
        return [_trim(item, depth + 1, notes) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in API_KEYWORDS:
            continue
        if key in ("properties", "$defs", "definitions"):
            if not isinstance(value, dict):
                raise ValueError(f"{key} is not an object")
            out[key] = {str(name): _trim(sub, depth + 1, notes) for name, sub in value.items()}
        elif key == "description":
            text = str(value)
            out[key] = text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 1] + "…"
        elif key == "type":
            kinds = value if isinstance(value, list) else [value]
            if not kinds or not all(isinstance(k, str) and k in _JSON_TYPES for k in kinds):
                raise ValueError(f"unknown type {value!r}")
            out[key] = value
        elif key in ("items", "additionalProperties", "anyOf"):
            out[key] = _trim(value, depth + 1, notes) if isinstance(value, (dict, list)) else value
        else:
            out[key] = value
    if out.get("type") == "array" and out.get("items") in (None, {}):
        out["items"] = {"type": ["string", "number", "boolean"]}
        notes.append("gave an untyped array item a type")
    return out


def strict_keywords_only(node: Any) -> bool:
    """Whether every keyword in ``node`` (at any depth; property names aside) is one strict mode takes."""
    if isinstance(node, list):
        return all(strict_keywords_only(item) for item in node)
    if not isinstance(node, dict):
        return True
    for key, value in node.items():
        if key not in STRICT_KEYWORDS:
            return False
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            if not all(strict_keywords_only(sub) for sub in value.values()):
                return False
        elif key in ("items", "anyOf", "additionalProperties") and not strict_keywords_only(value):
            return False
    return True
