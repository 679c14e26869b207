"""API keys and endpoints, per provider, from the environment only (never from the config file).

A mapping of provider → name → value: ``secrets.get("openai", "api_key")``. The well-known variables
(``OPENAI_API_KEY``, ``ELEVENLABS_API_KEY``, and the ``*_BASE_URL`` addresses) fill it, and so does
``APPLIANCE_SECRET__<PROVIDER>__<NAME>`` for any other engine's provider, so a plug-in engine gets its key
the same way. Which keys are *needed* follows the engines the settings select (piper needs none), and every
value that is not an address is scrubbed by :meth:`Secrets.redact` wherever text leaves the process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

#: (provider, name) → the environment variable it comes from.
VARIABLES: dict[tuple[str, str], str] = {
    ("openai", "api_key"): "OPENAI_API_KEY",
    ("openai", "base_url"): "OPENAI_BASE_URL",
    ("openai", "websocket_base_url"): "OPENAI_WEBSOCKET_BASE_URL",
    ("elevenlabs", "api_key"): "ELEVENLABS_API_KEY",
    ("elevenlabs", "base_url"): "ELEVENLABS_BASE_URL",
    ("elevenlabs", "websocket_base_url"): "ELEVENLABS_WEBSOCKET_BASE_URL",
}
GENERIC_PREFIX = "APPLIANCE_SECRET__"
#: What each provider's key is for, in the line that says it is missing.
PURPOSE: dict[str, str] = {"openai": "answers and transcription", "elevenlabs": "spoken answers"}
_EXAMPLE: dict[str, str] = {"openai": "sk-..."}
#: Names whose values are addresses, not secrets: they are not redacted.
PUBLIC_NAMES = frozenset({"base_url", "websocket_base_url"})
#: Shorter values are not redacted: replacing every "ab" in a log would destroy it and protect nothing.
MIN_SECRET_LENGTH = 4
DEFAULT_REQUIRED = ("openai", "elevenlabs")


class Secrets:
    """provider → {name: value} (``secrets["openai"]["api_key"]``, or ``get``). Immutable; ``repr`` names
    what is set, never a value.

    ``required`` are the providers the selected engines need a key for (see ``missing``). The keyword
    arguments are the well-known values, so ``Secrets(openai_api_key=...)`` reads as before."""

    __slots__ = ("_values", "required")

    def __init__(
        self,
        values: Mapping[str, Mapping[str, str]] | None = None,
        *,
        required: Iterable[str] = DEFAULT_REQUIRED,
        openai_api_key: str = "",
        elevenlabs_api_key: str = "",
        openai_base_url: str = "",
        elevenlabs_base_url: str = "",
    ) -> None:
        merged: dict[str, dict[str, str]] = {}
        for provider, names in (values or {}).items():
            merged.setdefault(provider, {}).update({k: v for k, v in names.items() if v})
        for (provider, name), value in {
            ("openai", "api_key"): openai_api_key,
            ("elevenlabs", "api_key"): elevenlabs_api_key,
            ("openai", "base_url"): openai_base_url,
            ("elevenlabs", "base_url"): elevenlabs_base_url,
        }.items():
            if value:
                merged.setdefault(provider, {})[name] = value
        self._values: Mapping[str, Mapping[str, str]] = MappingProxyType(
            {p: MappingProxyType(dict(n)) for p, n in merged.items() if n}
        )
        self.required: tuple[str, ...] = tuple(dict.fromkeys(required))

    @classmethod
    def from_env(cls, env: Mapping[str, str], required: Iterable[str] = DEFAULT_REQUIRED) -> Secrets:
        values: dict[str, dict[str, str]] = {}
        for (provider, name), variable in VARIABLES.items():
            value = env.get(variable, "").strip()
            if value:
                values.setdefault(provider, {})[name] = value
        for variable, raw in env.items():
            if variable.startswith(GENERIC_PREFIX) and raw.strip():
                provider, _, name = variable[len(GENERIC_PREFIX) :].lower().partition("__")
                if provider and name:
                    values.setdefault(provider, {})[name] = raw.strip()
        return cls(values, required=required)

    # --- provider → name → value
    def __getitem__(self, provider: str) -> Mapping[str, str]:
        return self._values[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, provider: object) -> bool:
        return provider in self._values

    def get(self, provider: str, name: str, default: str = "") -> str:
        """``get("openai", "api_key")``: the value, or ``default`` when it is not set."""
        return self._values.get(provider, {}).get(name, default)

    # --- what the selected engines need
    def missing(self, providers: Iterable[str] | None = None) -> list[str]:
        """One line for each needed key that is not set, naming the variable and how to set it."""
        lines = []
        for provider in dict.fromkeys(self.required if providers is None else providers):
            variable = VARIABLES.get((provider, "api_key"))
            if variable is None or self.get(provider, "api_key"):
                continue  # a provider with no known key (piper) needs none
            purpose = PURPOSE.get(provider, f"the {provider} engine")
            lines.append(
                f"{variable} is not set: add {variable}={_EXAMPLE.get(provider, '...')} to "
                f"/etc/appliance/env (or export it in the shell); {purpose} need it"
            )
        return lines

    # --- keeping them in
    def secret_values(self) -> list[str]:
        """Every configured value that must never be shown, longest first (a key that contains another is
        replaced whole)."""
        found = {
            value
            for names in self._values.values()
            for name, value in names.items()
            if name not in PUBLIC_NAMES and len(value) >= MIN_SECRET_LENGTH
        }
        return sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secret_values():
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        shown = {provider: sorted(names) for provider, names in self._values.items()}
        return f"Secrets(set={shown}, required={list(self.required)})"

    # --- the well-known values, by attribute (what the SDK adapters read)
    @property
    def openai_api_key(self) -> str:
        return self.get("openai", "api_key")

    @property
    def openai_base_url(self) -> str:
        return self.get("openai", "base_url")

    @property
    def elevenlabs_api_key(self) -> str:
        return self.get("elevenlabs", "api_key")

    @property
    def elevenlabs_base_url(self) -> str:
        return self.get("elevenlabs", "base_url")
