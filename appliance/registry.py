"""Engines by name: a setting names an engine, a registry turns the name into a factory.

The appliance registers its own engines in code; another package adds one by declaring an entry point in
the registry's group (as gpiozero finds pin factories), for example in its ``pyproject.toml``::

    [project.entry-points."appliance.tts"]
    acme = "acme_voice:make_synthesizer"

Entry points are only read the first time a name is not found among the built-ins, so a start-up that
uses the built-in engines never scans the installed packages.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from appliance.config.settings import SettingsError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    """Factories of one kind of engine, by name.

    ``setting`` is the key that names the engine (``tts.provider``), used in the error for an unknown
    name; ``group`` is the entry-point group other packages extend it through."""

    def __init__(self, kind: str, setting: str, group: str) -> None:
        self.kind = kind
        self.setting = setting
        self.group = group
        self._factories: dict[str, F] = {}
        self._lock = threading.Lock()
        self._scanned = False

    def register(self, name: str, factory: F) -> F:
        """Add ``factory`` under ``name``; a second registration of a name is a mistake, not an override."""
        with self._lock:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
        return factory

    def get(self, name: str) -> F:
        """The factory for ``name``. Raises SettingsError naming the setting and the known names."""
        with self._lock:
            factory = self._factories.get(name)
        if factory is None:
            self._load_entry_points()
            with self._lock:
                factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(self.names()) or "none"
            raise SettingsError(f"{self.setting}: unknown {self.kind} {name!r} (known: {known})")
        return factory

    def names(self) -> list[str]:
        """Every name that can be used, the entry points' included."""
        self._load_entry_points()
        with self._lock:
            return sorted(self._factories)

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._scanned:
                return
            self._scanned = True
        for entry in importlib.metadata.entry_points(group=self.group):
            if entry.name in self._factories:
                continue  # a built-in of the same name wins: a package cannot replace it behind the user's back
            try:
                factory = entry.load()
            except Exception as exc:  # a broken plug-in must not stop the appliance from using the others
                log.warning("cannot load %s %r from %s: %s", self.kind, entry.name, entry.value, exc)
                continue
            if not callable(factory):
                log.warning("%s %r from %s is not callable; ignored", self.kind, entry.name, entry.value)
                continue
            with self._lock:
                self._factories.setdefault(entry.name, factory)
