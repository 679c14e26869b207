"""What the settings are made of: the one error, the freezable section, value coercion and range checks.

Kept apart from :mod:`appliance.config.settings` (the sections and the loader) so each stays short.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal


class SettingsError(ValueError):
    """One clear line: which key, what is wrong."""


class Section:
    """A settings section that can be frozen: after ``freeze()`` assigning a field raises, lists are tuples
    and tables read-only mappings. Sections made in code (tests) stay mutable until frozen."""

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen"):
            raise dataclasses.FrozenInstanceError(f"settings are frozen after validation: cannot set {name}")
        super().__setattr__(name, value)

    def freeze(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = tuple(value)
            elif isinstance(value, dict):
                value = MappingProxyType(dict(value))
            elif isinstance(value, Section):
                value.freeze()
            object.__setattr__(self, f.name, value)
        object.__setattr__(self, "_frozen", True)

    @property
    def frozen(self) -> bool:
        return bool(self.__dict__.get("_frozen"))


def coerce(where: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(where, arg, value)
            except SettingsError as exc:
                errors.append(str(exc))
        raise SettingsError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: {value!r} is not one of {', '.join(map(str, args))}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise SettingsError(f"{where}: expected a string, got {value!r}")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise SettingsError(f"{where}: expected a list, got {value!r}")
        items = [coerce(f"{where}[{i}]", args[0], v) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise SettingsError(f"{where}: expected a table, got {value!r}")
        return {str(k): coerce(f"{where}.{k}", args[1], v) for k, v in value.items()}
    raise SettingsError(f"{where}: unsupported setting type {hint!r}")


def check_range(key: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise SettingsError(f"{key}: {value!r} is out of range ({low} to {high})")


def check_name(key: str, value: str) -> None:
    """An engine name: which names exist is the registries' business, checked when the appliance is built."""
    if not value.strip():
        raise SettingsError(f"{key}: name an engine")


def check_choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")
