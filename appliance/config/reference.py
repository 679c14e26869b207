"""The configuration reference: every key with its default and its documentation, from the code.

`appliance config reference` prints it and scripts/update-reference puts it in docs/configuration.md, so the
two never drift from the dataclasses in :mod:`appliance.config.settings`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import typing
from typing import Any


def describe(settings_cls: type, sections: list[str]) -> str:
    lines = []
    hints = typing.get_type_hints(settings_cls)
    for section_name in sections:
        cls = hints[section_name]
        lines.append(f"[{section_name}]")
        docs = _parsed(cls)
        for f in dataclasses.fields(cls):
            default: Any = None
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            lines.append(f"{f.name} = {_toml_value(default)}  # {docs.get(f.name, '')}".rstrip(" #"))
        lines.append("")
    return "\n".join(lines)


def _parsed(cls: type) -> dict[str, str]:
    """The attribute docs of ``cls``, read again if CPython 3.11 raised "AST constructor recursion depth
    mismatch": ast.parse (which inspect.getsource uses for a class) raises it spuriously now and then in a
    threaded program (python/cpython#106905, an error path of the AST constructor that leaves its depth count
    off; seen once in the suite); the source is fine, and a second parse reads it."""
    for _ in range(2):
        try:
            return _attribute_docs(inspect.getsource(cls))
        except SystemError:
            pass
    return _attribute_docs(inspect.getsource(cls))  # a third failure is raised


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def _attribute_docs(source: str) -> dict[str, str]:
    tree = ast.parse(source.lstrip())
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs
