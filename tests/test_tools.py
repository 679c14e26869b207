"""The tool registry: schemas from type hints, validation, binding, entry-point plugins, built-in tools."""

from __future__ import annotations

import enum
import importlib
import json
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from appliance.cancel import CancelToken
from appliance.events import Recorder
from appliance.ports import ToolContext
from appliance.tools import (
    BadToolCall,
    Tool,
    ToolRegistrationError,
    ToolRegistry,
    default_registry,
    make_strict,
    normalize_output,
    tool,
    validate,
)
from appliance.tools import builtin as builtin_tools


class Controls:
    """ports.Controls that records what the tools did to the appliance."""

    def __init__(self, volume: float = 0.5) -> None:
        self._volume = volume
        self.stopped = 0
        self.resets = 0

    def volume(self) -> float:
        return self._volume

    def set_volume(self, value: float) -> float:
        self._volume = round(max(0.0, min(1.0, value)), 2)
        return self._volume

    def stop_turn(self) -> None:
        self.stopped += 1

    def reset_conversation(self) -> None:
        self.resets += 1

    def camera_allowed(self) -> bool:
        return False


def context(controls: Controls | None = None) -> ToolContext:
    return ToolContext(
        controls=controls or Controls(), camera=None, indicators=None, cancel=CancelToken(), emit=Recorder()
    )


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


def weather(
    ctx: ToolContext,
    city: str,
    days: int = 1,
    unit: Literal["C", "F"] | None = None,
    tags: list[str] | None = None,
    colour: Annotated[Colour, "A colour to paint the answer"] = Colour.RED,
) -> str:
    """Look up the weather forecast.

    Say which city; the forecast covers a few days.

    Args:
        city: The city, e.g. "Paris".
        days: How many days ahead,
            counted from today.
        unit: Celsius or Fahrenheit.
        tags: Free-form labels.
    """
    return json.dumps(
        {
            "ctx": isinstance(ctx, ToolContext),
            "city": city,
            "days": days,
            "unit": unit,
            "tags": tags,
            "colour": colour.value,
        }
    )


# --- schemas -------------------------------------------------------------------------------------------


def test_schema_generated_from_hints_and_docstring() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    spec = registry.get("weather").spec()
    assert spec["type"] == "function" and spec["name"] == "weather" and spec["strict"] is True
    assert spec["description"] == "Look up the weather forecast."
    params = spec["parameters"]
    assert params["additionalProperties"] is False
    assert params["required"] == ["city", "days", "unit", "tags", "colour"]  # strict: all listed
    props = params["properties"]
    assert props["city"] == {"type": "string", "description": 'The city, e.g. "Paris".'}
    assert props["days"]["type"] == ["integer", "null"]  # optional -> nullable
    assert props["days"]["description"] == "How many days ahead, counted from today. (default: 1)"
    assert props["unit"]["enum"] == ["C", "F", None] and props["unit"]["type"] == ["string", "null"]
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": "string"}, "description": "Free-form labels."}
    assert props["colour"]["enum"] == ["red", "green", None]
    assert props["colour"]["description"].startswith("A colour to paint the answer")
    assert "ctx" not in props
    assert registry.get("weather").wants_context


def test_bind_and_invoke_with_context_defaults_and_conversions() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    found, kwargs = registry.bind(
        "weather", '{"city": "Oslo", "days": 3.0, "unit": null, "tags": ["a"], "colour": "green"}'
    )
    assert kwargs == {"city": "Oslo", "days": 3, "tags": ["a"], "colour": Colour.GREEN}
    assert isinstance(kwargs["days"], int)
    result = json.loads(found.invoke(context(), kwargs))
    assert result == {"ctx": True, "city": "Oslo", "days": 3, "unit": None, "tags": ["a"], "colour": "green"}
    # null for a parameter with a default leaves the default in place
    _, kwargs = registry.bind("weather", '{"city": "Rome", "days": null, "unit": "F", "tags": null, "colour": null}')
    assert kwargs == {"city": "Rome", "unit": "F"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Oslo"', "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        ('{"days": 2}', "arguments.city is required"),
        ('{"city": 5}', "arguments.city must be string, not an integer"),
        ('{"city": "Oslo", "days": "two"}', "arguments.days must be integer or null, not a string"),
        ('{"city": "Oslo", "days": true}', "arguments.days must be integer or null, not a boolean"),
        ('{"city": "Oslo", "unit": "K"}', 'arguments.unit must be one of "C", "F", null, not "K"'),
        ('{"city": "Oslo", "tags": [1]}', "arguments.tags[0] must be string"),
        ('{"city": "Oslo", "country": "NO"}', "arguments.country is not a known parameter"),
    ],
)
def test_bad_arguments_are_explained(arguments: str, expected: str) -> None:
    registry = ToolRegistry()
    registry.register(weather)
    with pytest.raises(BadToolCall) as caught:
        registry.bind("weather", arguments)
    assert expected in str(caught.value)


def test_unknown_tool_names_the_available_ones() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    with pytest.raises(BadToolCall, match=r"no tool named 'launch_rocket' \(available tools: weather\)"):
        registry.bind("launch_rocket", "{}")


def test_explicit_schema_is_made_strict_when_possible() -> None:
    def look(ctx: ToolContext, question: str | None = None) -> str:
        return question or "nothing"

    schema = {
        "type": "object",
        "properties": {"question": {"type": "string", "description": "What to look for"}},
        "required": [],
    }
    registry = ToolRegistry()
    registry.register(look, description="Look around.", parameters=schema)
    item = registry.get("look")
    assert item.strict is True
    assert item.parameters["required"] == ["question"]
    assert item.parameters["properties"]["question"]["type"] == ["string", "null"]
    assert item.parameters["additionalProperties"] is False
    assert schema["required"] == []  # the caller's dict is not changed
    assert item.invoke(context(), registry.bind("look", '{"question": null}')[1]) == "nothing"
    assert item.invoke(context(), registry.bind("look", "")[1]) == "nothing"


def test_schema_that_cannot_be_strict_is_sent_as_given() -> None:
    def anything(**kwargs: Any) -> str:
        return json.dumps(kwargs, sort_keys=True)

    schema = {"type": "object", "properties": {"blob": {"description": "anything at all"}}}
    registry = ToolRegistry()
    registry.register(anything, description="Takes anything.", parameters=schema)
    item = registry.get("anything")
    assert item.strict is False and item.parameters == schema
    assert (
        item.invoke(None, registry.bind("anything", '{"blob": [1, {"a": 2}], "extra": 1}')[1])
        == '{"blob": [1, {"a": 2}], "extra": 1}'
    )
    with pytest.raises(ToolRegistrationError, match="cannot be made strict"):
        ToolRegistry().register(anything, description="x", parameters=schema, strict=True)


def test_registration_errors_are_clear() -> None:
    registry = ToolRegistry()

    def no_hint(city) -> str:  # type: ignore[no-untyped-def]
        """Doc."""
        return city

    def star(*args: str) -> str:
        """Doc."""
        return ""

    def mapping(data: dict[str, int]) -> str:
        """Doc."""
        return ""

    def undocumented(x: int) -> str:
        return ""

    with pytest.raises(ToolRegistrationError, match="'city' needs a type hint"):
        registry.register(no_hint)
    with pytest.raises(ToolRegistrationError, match="passable by keyword"):
        registry.register(star)
    with pytest.raises(ToolRegistrationError, match="unsupported type"):
        registry.register(mapping)
    with pytest.raises(ToolRegistrationError, match="needs a description"):
        registry.register(undocumented)
    with pytest.raises(ToolRegistrationError, match="tool name"):
        registry.register(weather, name="no spaces allowed")
    with pytest.raises(ToolRegistrationError, match="not parameters of the function"):
        registry.register(
            undocumented,
            description="x",
            parameters={"type": "object", "properties": {"y": {"type": "integer"}}, "required": ["y"]},
        )
    registry.register(weather)
    with pytest.raises(ToolRegistrationError, match="already registered"):
        registry.register(weather)


def test_decorators() -> None:
    registry = ToolRegistry()

    @registry.register(name="add_numbers")
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool
    def shout(text: str) -> str:
        """Say it loudly."""
        return text.upper()

    assert add(2, 3) == 5  # still the plain function
    assert isinstance(shout, Tool) and shout("hi") == "HI"
    registry.register(shout)
    assert registry.names() == ["add_numbers", "shout"]
    item, kwargs = registry.bind("add_numbers", '{"a": 2, "b": 40}')
    assert item.invoke(None, kwargs) == "42"


def test_validator_subset() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "number", "minimum": 0, "maximum": 10},
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"k": {"type": "boolean"}},
                    "required": ["k"],
                    "additionalProperties": False,
                },
                "maxItems": 2,
            },
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["n"],
        "additionalProperties": False,
    }
    assert validate(schema, {"n": 1.5, "s": "ab", "items": [{"k": True}], "either": None}) == []
    errors = validate(schema, {"n": 11, "s": "a", "items": [{"k": 1}, {}, {"k": False}], "either": "x"})
    assert "arguments.n must be at most 10" in errors
    assert "arguments.s must be at least 2 characters" in errors
    assert "arguments.items[0].k must be boolean, not an integer" in errors
    assert "arguments.items[1].k is required" in errors
    assert "arguments.items takes at most 2 items" in errors
    assert any(e.startswith("arguments.either") for e in errors)
    assert make_strict({"type": "object", "properties": {"x": {}}}) is None


def test_outputs_are_normalized() -> None:
    parts = [
        {"type": "input_text", "text": "a photo"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA", "detail": "low"},
    ]
    assert normalize_output(parts) == parts
    assert normalize_output(None) == "Done."
    assert normalize_output({"temp": 21}) == '{"temp": 21}'
    assert normalize_output([1, 2]) == "[1, 2]"
    assert normalize_output("text") == "text"


# --- plugins through entry points ---------------------------------------------------------------------


def make_plugin(root: Path, name: str, module: str, source: str, entries: dict[str, str]) -> None:
    """A real installed distribution on sys.path: a module and a .dist-info with entry_points.txt."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[appliance.tools]\n{lines}\n")


def test_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plugin(
        tmp_path,
        "weather_plugin",
        "weather_plugin_mod",
        '''
        from appliance.tools import tool
        from appliance.ports import ToolContext

        def forecast(ctx: ToolContext, city: str) -> str:
            """Tomorrow's forecast for a city."""
            return f"Sunny in {city}"

        @tool(name="tide_times")
        def tides(harbour: str) -> str:
            """High and low tide times."""
            return f"High tide in {harbour} at noon"

        @tool
        def moon_phase() -> str:
            """The phase of the moon."""
            return "full"

        MORE = [moon_phase]
    ''',
        {
            "forecast": "weather_plugin_mod:forecast",
            "tides": "weather_plugin_mod:tides",
            "moon": "weather_plugin_mod:MORE",
            "get_current_time": "weather_plugin_mod:forecast",
        },
    )
    make_plugin(
        tmp_path,
        "broken_plugin",
        "broken_plugin_mod",
        "import not_a_module_anywhere\n",
        {"broken": "broken_plugin_mod:thing"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    registry = default_registry(camera=False)
    assert {"forecast", "tide_times", "moon_phase"} <= set(registry.names())
    item, kwargs = registry.bind("forecast", '{"city": "Brest"}')
    assert item.wants_context and item.invoke(context(), kwargs) == "Sunny in Brest"
    assert (
        registry.bind("tide_times", '{"harbour": "Brest"}')[0].invoke(None, {"harbour": "Brest"})
        == "High tide in Brest at noon"
    )
    # a broken plugin and a clash with a built-in are reported, not fatal
    assert any("'broken'" in e and "ModuleNotFoundError" in e for e in registry.load_errors)
    assert any("'get_current_time' already exists" in e for e in registry.load_errors)
    assert registry.get("get_current_time").function is builtin_tools.get_current_time


# --- built-in tools ---------------------------------------------------------------------------------------


def test_builtin_tools_are_registered_with_strict_schemas() -> None:
    registry = default_registry(plugins=False)
    assert set(registry.names()) == {
        "get_current_time",
        "set_volume",
        "change_volume",
        "stop",
        "reset_conversation",
        "describe_image",
    }
    assert all(spec["strict"] for spec in registry.specs())
    assert registry.get("stop").ends_turn
    camera = registry.get("describe_image")
    from appliance.camera import tool as camera_tool

    assert camera.function is camera_tool.describe_image
    assert camera.description == camera_tool.TOOL_DESCRIPTION
    assert camera.parameters["properties"]["question"]["type"] == ["string", "null"]
    assert "describe_image" not in default_registry(camera=False, plugins=False)


def test_describe_image_registration_fails_clearly_without_the_camera_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "appliance.camera.tool", None)  # makes the import fail
    with pytest.raises(ToolRegistrationError, match="cannot import appliance.camera.tool"):
        builtin_tools.register_builtin_tools(ToolRegistry())


def test_time_and_date() -> None:
    moment = datetime(2025, 3, 4, 14, 5, tzinfo=timezone(timedelta(hours=1)))
    text = builtin_tools.describe_time(moment)
    assert text.startswith("Tuesday 4 March 2025, 14:05 (")
    assert "UTC+01:00" in text
    now = builtin_tools.get_current_time()
    assert str(datetime.now().year) in now and "UTC" in now


def test_volume_stop_and_reset_act_through_the_controls() -> None:
    registry = default_registry(camera=False, plugins=False)
    controls = Controls(volume=0.5)
    ctx = context(controls)

    def call(name: str, arguments: dict[str, Any]) -> Any:
        item, kwargs = registry.bind(name, json.dumps(arguments))
        return item.invoke(ctx, kwargs)

    assert call("set_volume", {"percent": 30}) == "The volume is now 30 percent."
    assert controls.volume() == 0.3
    assert (
        call("change_volume", {"direction": "up", "step_percent": None}) == "The volume is now 40 percent (it was 30)."
    )
    assert (
        call("change_volume", {"direction": "down", "step_percent": 25}) == "The volume is now 15 percent (it was 40)."
    )
    assert "between 0 and 100" in call("set_volume", {"percent": 150}) and controls.volume() == 0.15
    controls.set_volume(1.0)
    assert "already at its loudest" in call("change_volume", {"direction": "up", "step_percent": None})
    assert call("stop", {}) == "Stopped." and controls.stopped == 1
    assert "reset" in call("reset_conversation", {}) and controls.resets == 1


# --- the package's shape ----------------------------------------------------------------------------------


def _module_imports(path: Path, module: str) -> set[str]:
    """Modules of ``appliance`` that ``path`` imports, at load time or in a function (a deferred import
    hides a cycle, it does not remove it); imports for type checking only do not count."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    checking_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("appliance"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("appliance"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


def test_no_import_cycle_through_the_tools_or_the_assistant() -> None:
    import appliance

    root = Path(appliance.__file__).resolve().parent  # the checkout's, or the installed wheel's (arm64 smoke)
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {
        name: {m for m in _module_imports(path, name) if m in modules and m != name} for name, path in modules.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    ours = [m for m in modules if m.startswith(("appliance.tools", "appliance.llm"))]
    assert "appliance.tools.runner" in ours and "appliance.llm.stream" in ours
    cycles = [c for m in ours if (c := cycle_from(m)) is not None]
    assert cycles == []
