"""A JSON-schema validator for the subset the schema generator produces.

Small on purpose: the messages are written for the model (they go back as the call's output), and the
subset is what strict mode allows, so a general validator would add weight and vaguer errors.
"""

from __future__ import annotations

import json
from typing import Any


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
            isinstance(value, float) and value.is_integer()
        )
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
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
