"""MCP servers as tool sets, against real MCP servers made with the `mcp` SDK (tests/mcp_home.py: a light and a
lock in a JSON file), one over streamable HTTP on 127.0.0.1 with a bearer token it checks and one over stdio,
and the real assistant against the fake cloud, whose scripted model calls their tools. Nothing is mocked:
the device's state is read back from the server's file, and faults are real (a server not started, killed,
slow, wrong token).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles import Controls

from appliance.cancel import CancelToken
from appliance.config.mcp import McpSettings
from appliance.config.secrets import Secrets
from appliance.config.settings import AssistantSettings, SettingsError, load
from appliance.errors import ApplianceError, Cancelled
from appliance.events import Info, Recorder, ToolCall
from appliance.host.doctor import WARN, check_mcp
from appliance.llm.responses import ResponsesAssistant
from appliance.mcp.convert import RemoteTool, make_tool, short_description
from appliance.mcp.manager import McpManager, ServerState, ServerStatus
from appliance.ports import ToolContext
from appliance.tools import ToolRegistry
from appliance.tools.foreign_schema import api_parameters
from standin.cloud import FakeCloud
from standin.responses import ResponsesServer, Wire

HOME = Path(__file__).with_name("mcp_home.py")
TOKEN = "ha-long-lived-token-0123456789abcdef"
WAIT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HttpHome:
    """The home server over streamable HTTP in its own process (started and killed by the test)."""

    def __init__(self, state: Path, port: int, *, weird: bool = False, legacy: bool = False) -> None:
        self.state, self.port, self.weird, self.legacy = state, port, weird, legacy
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        args = [sys.executable, str(HOME), "--state", str(self.state)]
        args += ["--weird"] if self.weird else []
        args += ["--legacy"] if self.legacy else []
        args += ["http", "--port", str(self.port), "--token", TOKEN]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert line.startswith("ready"), line

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def device(state: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(state.read_text())
    return data


@pytest.fixture
def homes() -> Iterator[list[HttpHome]]:
    """HTTP home servers a test makes itself (started later, or with options); all are killed at the end."""
    made: list[HttpHome] = []
    yield made
    for home in made:
        home.stop()


def new_home(homes: list[HttpHome], state: Path, **options: bool) -> HttpHome:
    home = HttpHome(state, free_port(), **options)
    homes.append(home)
    return home


@pytest.fixture
def http_home(tmp_path: Path) -> Iterator[HttpHome]:
    home = HttpHome(tmp_path / "http-home.json", free_port())
    home.start()
    yield home
    home.stop()


def stdio_command(state: Path) -> list[str]:
    return [sys.executable, str(HOME), "--state", str(state), "stdio"]


def mcp_settings(servers: dict[str, dict[str, Any]], **overrides: Any) -> McpSettings:
    values: dict[str, Any] = {
        "servers": servers,
        "connect_timeout": 8.0,
        "call_timeout": 8.0,
        "retry_max_seconds": 1.0,
        "ping_seconds": 0.3,
    }
    values.update(overrides)
    settings = McpSettings(**values)
    settings.validate()
    return settings


def secrets(token: str = TOKEN) -> Secrets:
    return Secrets({"mcp": {"home": token}} if token else {}, required=())


@pytest.fixture
def managers() -> Iterator[list[McpManager]]:
    made: list[McpManager] = []
    yield made
    for manager in made:
        manager.close()


def start(managers: list[McpManager], settings: McpSettings, token: str = TOKEN, emit: Any = None) -> McpManager:
    manager = McpManager(settings, secrets(token), emit)
    managers.append(manager)
    manager.start()
    return manager


def state_of(manager: McpManager, label: str) -> ServerStatus:
    return next(s for s in manager.status() if s.label == label)


def wait_state(manager: McpManager, label: str, state: ServerState, tools: int | None = None) -> ServerStatus:
    def ok(all_: list[ServerStatus]) -> bool:
        s = next(x for x in all_ if x.label == label)
        return s.state is state and (tools is None or s.tools == tools)

    assert manager.wait_for(ok, WAIT), manager.status()
    return state_of(manager, label)


class Assistant:
    """The real Responses assistant, its registry holding the manager's tool set, against the fake cloud."""

    def __init__(self, cloud: FakeCloud, manager: McpManager, tool_timeout: float = 6.0) -> None:
        self.registry = ToolRegistry()
        self.registry.attach(manager)
        self.events = Recorder()
        settings = AssistantSettings(connect_timeout=2.0, read_timeout=5.0, deadline=20.0, tool_timeout=tool_timeout)
        self.assistant = ResponsesAssistant(
            settings, Secrets.from_env(cloud.env()), self.registry, self.make_context, transport="http"
        )

    def make_context(self, cancel: CancelToken, emit: Any) -> ToolContext:
        return ToolContext(controls=Controls(allowed=False), camera=None, indicators=None, cancel=cancel, emit=emit)

    def ask(self, text: str, cancel: CancelToken | None = None) -> list[str]:
        return [p.text for p in self.assistant.respond(text, cancel or CancelToken(), self.events)]


def outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {item["call_id"]: item["output"] for item in body["input"] if item.get("type") == "function_call_output"}


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as running:
        yield running


# --- the model calls tools of both servers; the devices change --------------------------------------------


def test_tools_of_an_http_and_a_stdio_server_are_offered_and_change_the_devices(
    cloud: FakeCloud, http_home: HttpHome, tmp_path: Path, managers: list[McpManager], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    garden = tmp_path / "garden.json"
    events = Recorder()
    settings = mcp_settings({"home": {"url": http_home.url}, "garden": {"command": stdio_command(garden)}})
    manager = start(managers, settings, emit=events)
    wait_state(manager, "home", ServerState.UP)
    wait_state(manager, "garden", ServerState.UP)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("home_light_set", {"on": True, "brightness": 40}), ("garden_lock_set", {"locked": False}))
    server.then(call, wire.text("Light on, door unlocked."))

    # the lock is marked destructive: the appliance asks first (issue #27; test_confirm_e2e.py has the voice)
    assert a.ask("Light on and unlock the garden door") == ["Run lock set with locked false?"]
    assert not garden.exists()  # the light is on, the door not yet unlocked
    a.assistant.settle_confirmation(True)
    assert a.ask("Yes.") == ["Light on, door unlocked."]

    assert device(http_home.state)["light"] == {"on": True, "brightness": 40}
    assert device(garden)["lock"] == {"locked": False}
    first, second = server.bodies()
    offered = {t["name"]: t for t in first["tools"] if t.get("type") == "function"}
    assert {"home_light_set", "home_lock_set", "garden_light_set", "garden_lock_set"} <= set(offered)
    assert offered["home_light_set"]["strict"] is True
    brightness = offered["home_light_set"]["parameters"]["properties"]["brightness"]
    assert brightness == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert outputs(second) == {call.call_ids[0]: "light is on at 40%", call.call_ids[1]: "front door unlocked"}
    assert [e.ok for e in a.events.of(ToolCall)] == [True, True]
    # the annotations are kept; only a tool marked destructive in so many words is confirmed by voice
    light_get, lock_set = a.registry.get("home_light_get"), a.registry.get("garden_lock_set")
    silent = a.registry.get("home_broken_sensor")  # no annotations: MCP's default says possibly destructive
    assert light_get is not None and lock_set is not None and silent is not None
    assert (light_get.read_only, light_get.destructive, light_get.source) == (True, False, "home")
    assert (lock_set.read_only, lock_set.destructive, lock_set.source) == (False, True, "garden")
    assert (light_get.confirm, lock_set.confirm) == (False, True)
    assert (silent.destructive, silent.confirm) == (True, False)
    # the token is a header, never a word in a log line or an event
    assert TOKEN not in caplog.text
    assert any(e.what == "mcp_server" for e in events.of(Info))
    assert all(TOKEN not in json.dumps(e.detail) for e in events.of(Info))


def test_an_optional_argument_left_null_takes_the_servers_default(
    cloud: FakeCloud, tmp_path: Path, managers: list[McpManager]
) -> None:
    manager = start(managers, mcp_settings({"home": {"command": stdio_command(tmp_path / "s.json")}}))
    wait_state(manager, "home", ServerState.UP)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("home_light_set", {"on": True, "brightness": None}))
    server.then(call, wire.text("On."))
    a.ask("light on")
    assert device(tmp_path / "s.json")["light"] == {"on": True, "brightness": 100}


# --- faults ------------------------------------------------------------------------------------------------


def test_a_server_down_at_start_is_left_out_then_its_tools_appear_when_it_comes_up(
    tmp_path: Path, managers: list[McpManager]
) -> None:
    home = HttpHome(tmp_path / "home.json", free_port())
    settings = mcp_settings({"home": {"url": home.url}})
    began = time.monotonic()
    manager = start(managers, settings)
    assert time.monotonic() - began < 5.0  # start never waits for a server (readiness does not either)
    registry = ToolRegistry()
    registry.attach(manager)
    down = wait_state(manager, "home", ServerState.DOWN)
    assert down.tools == 0 and "retrying" in down.detail
    assert registry.names() == []
    doctor = check_mcp(
        load(env={"APPLIANCE_MCP__SERVERS": f'{{home = {{url = "{home.url}"}}}}', "OPENAI_API_KEY": "x" * 8})
    )
    assert doctor.status == WARN and "home (http" in doctor.message and ": down, 0 tools" in doctor.message
    try:
        home.start()
        wait_state(manager, "home", ServerState.UP)
        assert "home_light_set" in registry.names()
        doctor = check_mcp(
            load(
                env={
                    "APPLIANCE_MCP__SERVERS": f'{{home = {{url = "{home.url}"}}}}',
                    "APPLIANCE_SECRET__MCP__HOME": TOKEN,
                    "OPENAI_API_KEY": "x" * 8,
                }
            )
        )
        assert doctor.status == "OK" and ": up, 9 tools" in doctor.message, doctor.message
    finally:
        home.stop()


def test_a_wrong_token_is_refused_and_said_so_without_the_token(
    http_home: HttpHome, managers: list[McpManager], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-right-token-4242"
    manager = start(managers, mcp_settings({"home": {"url": http_home.url}}), token=wrong)
    refused = wait_state(manager, "home", ServerState.UNAUTHORIZED)
    assert refused.tools == 0 and manager.tools() == ()
    assert "refused the token (401)" in refused.detail and "APPLIANCE_SECRET__MCP__HOME" in refused.detail
    assert wrong not in caplog.text and wrong not in refused.detail
    doctor = check_mcp(
        load(
            env={
                "APPLIANCE_MCP__SERVERS": f'{{home = {{url = "{http_home.url}"}}}}',
                "APPLIANCE_SECRET__MCP__HOME": wrong,
                "OPENAI_API_KEY": "x" * 8,
            }
        )
    )
    assert doctor.status == WARN and "unauthorized" in doctor.message and "APPLIANCE_SECRET__MCP__HOME" in doctor.fix


def test_a_call_slower_than_the_tool_timeout_is_stopped_and_the_model_told(
    cloud: FakeCloud, http_home: HttpHome, managers: list[McpManager]
) -> None:
    manager = start(managers, mcp_settings({"home": {"url": http_home.url}}))
    wait_state(manager, "home", ServerState.UP)
    a = Assistant(cloud, manager, tool_timeout=1.0)
    server, wire = ResponsesServer(cloud), Wire()
    slow = wire.calls(("home_slow_status", {"seconds": 30}))
    light = wire.calls(("home_light_set", {"on": True, "brightness": 5}))
    server.then(slow, wire.text("It took too long."), light, wire.text("On."))
    assert a.ask("status?") == ["It took too long."]
    [output] = outputs(server.bodies()[1]).values()
    assert "took longer than 1 seconds" in output
    assert a.ask("light on") == ["On."]  # the session is still good
    assert device(http_home.state)["light"]["brightness"] == 5


def test_a_press_cancels_a_call_in_flight(http_home: HttpHome, managers: list[McpManager]) -> None:
    manager = start(managers, mcp_settings({"home": {"url": http_home.url}}))
    wait_state(manager, "home", ServerState.UP)
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel, args=("press",)).start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        manager.call("home", "slow_status", {"seconds": 30}, cancel)
    assert time.monotonic() - began < 10.0
    assert manager.call("home", "light_get", {}, CancelToken()).startswith("{")


def test_an_error_result_goes_back_to_the_model(
    cloud: FakeCloud, http_home: HttpHome, managers: list[McpManager]
) -> None:
    manager = start(managers, mcp_settings({"home": {"url": http_home.url}}))
    wait_state(manager, "home", ServerState.UP)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.calls(("home_broken_sensor", {})), wire.text("The sensor is not answering."))
    assert a.ask("garden?") == ["The sensor is not answering."]
    [output] = outputs(server.bodies()[1]).values()
    assert output.startswith("Error: the tool home_broken_sensor failed (the tool reported an error:")
    assert [e.ok for e in a.events.of(ToolCall)] == [False]


def test_a_5_mb_result_is_cut_to_the_output_limit(
    cloud: FakeCloud, http_home: HttpHome, tmp_path: Path, managers: list[McpManager]
) -> None:
    settings = mcp_settings(
        {"home": {"url": http_home.url}, "garden": {"command": stdio_command(tmp_path / "g.json")}}, max_output_kb=8
    )
    manager = start(managers, settings)
    wait_state(manager, "home", ServerState.UP)
    wait_state(manager, "garden", ServerState.UP)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    call = wire.calls(("home_energy_log", {}), ("garden_energy_log", {}))
    server.then(call, wire.text("Lots of energy."))
    assert a.ask("energy?") == ["Lots of energy."]
    for output in outputs(server.bodies()[1]).values():
        assert len(output) < 8 * 1024 + 200, len(output)
        assert output.startswith("kWh 0.42; ") or output.startswith("Error:"), output[:200]
        if output.startswith("kWh"):
            assert "more characters were left out" in output


def test_a_schema_the_api_would_refuse_is_trimmed(cloud: FakeCloud, tmp_path: Path, managers: list[McpManager]) -> None:
    from mcp_home import WEIRD_SCHEMA

    from standin.function_tools import function_tool_problem

    raw = {"type": "function", "name": "home_thermostat", "parameters": WEIRD_SCHEMA, "strict": False}
    assert "not have 'oneOf'" in str(function_tool_problem(raw, 0))  # the stand-in answers 400, as the API
    home = HttpHome(tmp_path / "home.json", free_port(), weird=True)
    home.start()
    try:
        manager = start(managers, mcp_settings({"home": {"url": home.url}}, description_chars=80))
        wait_state(manager, "home", ServerState.UP)
        a = Assistant(cloud, manager)
        found = a.registry.get("home_thermostat")
        assert found is not None
        spec = found.spec()
        assert "oneOf" not in spec["parameters"] and function_tool_problem(spec, 0) is None
        assert spec["parameters"]["properties"]["zones"]["items"] != {}
        assert len(spec["description"]) <= 80
        server, wire = ResponsesServer(cloud), Wire()
        server.then(wire.calls(("home_thermostat", {"target": 21, "zones": None, "mode.name": None})), wire.text("21."))
        assert a.ask("heat to 21") == ["21."]
        assert server.rejected == []
        assert list(outputs(server.bodies()[1]).values()) == ["thermostat at 21"]
    finally:
        home.stop()


@pytest.mark.parametrize("legacy", [False, True], ids=["2026-07-28", "handshake-era"])
def test_list_changed_adds_and_removes_tools(
    cloud: FakeCloud, tmp_path: Path, managers: list[McpManager], homes: list[HttpHome], legacy: bool
) -> None:
    home = new_home(homes, tmp_path / "home.json", legacy=legacy)
    home.start()
    garden = {"command": stdio_command(tmp_path / "g.json")}
    # the list is not read again by the clock here: only the servers' notifications can change it
    manager = start(managers, mcp_settings({"home": {"url": home.url}, "garden": garden}, ping_seconds=600.0))
    up = wait_state(manager, "home", ServerState.UP, tools=9)
    assert up.protocol.startswith("2025-" if legacy else "2026-"), up.protocol
    wait_state(manager, "garden", ServerState.UP, tools=9)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.calls(("home_pair_garage", {}), ("garden_pair_garage", {})), wire.text("Paired."))
    assert a.ask("pair the garage") == ["Paired."]
    for label in ("home", "garden"):
        wait_state(manager, label, ServerState.UP, tools=9)
        assert manager.wait_for(lambda _, name=f"{label}_garage_open": name in a.registry, WAIT)
        assert f"{label}_broken_sensor" not in a.registry
    server.then(wire.calls(("home_garage_open", {})), wire.text("Open."))
    assert a.ask("open the garage") == ["Run garage open?"]  # marked destructive: asked about first
    a.assistant.settle_confirmation(True)
    assert a.ask("yes") == ["Open."]
    assert "home_garage_open" in [t.get("name") for t in server.bodies()[-2]["tools"]]
    assert list(outputs(server.bodies()[-1]).values()) == ["garage open"]


def test_a_server_that_dies_mid_call_is_an_error_for_the_model_and_comes_back(
    cloud: FakeCloud, tmp_path: Path, managers: list[McpManager]
) -> None:
    state = tmp_path / "g.json"
    manager = start(managers, mcp_settings({"garden": {"command": stdio_command(state)}}))
    up = wait_state(manager, "garden", ServerState.UP)
    a = Assistant(cloud, manager)
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.calls(("garden_reboot_hub", {})), wire.text("The hub went away."))
    assert a.ask("reboot the hub") == ["The hub went away."]
    [output] = outputs(server.bodies()[1]).values()
    assert output.startswith("Error: the tool garden_reboot_hub"), output
    # restarted by the manager: seen down (right after the call the status may still say up from before; it
    # stays down for the first backoff, a second), then up again with its whole tool list
    wait_state(manager, "garden", ServerState.DOWN)
    wait_state(manager, "garden", ServerState.UP, tools=up.tools)
    server.then(wire.calls(("garden_light_set", {"on": True, "brightness": 7})), wire.text("On."))
    assert a.ask("light") == ["On."]
    assert device(state)["light"]["brightness"] == 7


def test_a_call_to_a_server_that_is_down_is_an_error_not_a_crash(managers: list[McpManager]) -> None:
    manager = start(managers, mcp_settings({"home": {"url": f"http://127.0.0.1:{free_port()}/mcp"}}))
    with pytest.raises(ApplianceError, match="not connected"):
        manager.call("home", "light_get", {}, CancelToken())


# --- settings, schemas, descriptions (pure) ---------------------------------------------------------------


def test_settings_take_servers_from_the_file_and_tokens_only_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[mcp.servers.home]\nurl = "http://homeassistant.local:8123/api/mcp"\n'
        '[mcp.servers.notes]\ncommand = ["uvx", "notes-server", "--dir", "/srv"]\n'
    )
    settings = load(config, env={"OPENAI_API_KEY": "sk-" + "x" * 10, "APPLIANCE_SECRET__MCP__HOME": TOKEN})
    home, notes = settings.mcp.server_list()
    assert (home.label, home.transport, home.url) == ("home", "http", "http://homeassistant.local:8123/api/mcp")
    assert (notes.transport, notes.command) == ("stdio", ("uvx", "notes-server", "--dir", "/srv"))
    assert settings.secrets.get("mcp", "home") == TOKEN
    assert settings.secrets.redact(f"Bearer {TOKEN}") == "Bearer ***"
    for bad, message in [
        ('[mcp.servers.home]\nurl = "http://h/api/mcp"\ntoken = "abc"\n', "unknown key 'token'"),
        ('[mcp.servers.Home]\nurl = "http://h/api/mcp"\n', "label must be"),
        ('[mcp.servers.home]\nurl = "http://h"\ncommand = ["x"]\n', "either url"),
        ('[mcp.servers.home]\nurl = "ftp://h"\n', "http:// or https://"),
        ('[mcp.servers.home]\ncommand = "uvx server"\n', "expected a list"),
    ]:
        config.write_text(bad)
        with pytest.raises(SettingsError, match=message):
            load(config, env={"OPENAI_API_KEY": "sk-" + "x" * 10})


def test_api_parameters_trims_what_the_api_refuses() -> None:
    trimmed, notes = api_parameters(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Args",
            "type": "object",
            "oneOf": [{"required": ["a"]}],
            "properties": {
                "a": {"type": "string", "title": "A", "default": "x", "examples": ["y"]},
                "b": {"type": "array", "items": {}},
            },
            "required": ["a", "gone"],
        }
    )
    assert trimmed == {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
        },
        "required": ["a"],
    }
    assert notes
    assert api_parameters({"type": "array"})[0] is None
    assert api_parameters("nonsense")[0] is None
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node = deep
    for _ in range(12):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["x"] = child
        node = child
    assert api_parameters(deep)[0] is None


def test_a_schema_with_keywords_strict_mode_refuses_is_sent_without_strict() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "minLength": 4}}, "required": ["code"]}
    made, _ = make_tool(
        "home", RemoteTool("alarm_code", "Arm the alarm.", schema), lambda ctx, **kw: "", description_chars=80
    )
    assert made is not None and made.strict is False and made.parameters["properties"]["code"]["minLength"] == 4
    schema["properties"]["code"].pop("minLength")
    made, _ = make_tool(
        "home", RemoteTool("alarm_code", "Arm the alarm.", schema), lambda ctx, **kw: "", description_chars=80
    )
    assert made is not None and made.strict is True


def test_names_and_descriptions_are_made_safe_and_short() -> None:
    remote = RemoteTool("HassTurnOn light.kitchen", "Turns on a device.\n\nLong manual " * 50, {"type": "object"})
    made, _ = make_tool("home", remote, lambda ctx, **kw: "", description_chars=60)
    assert made is not None
    assert made.name == "home_HassTurnOn_light_kitchen"
    assert made.description == "Turns on a device."
    assert made.destructive and not made.read_only  # MCP's defaults when a tool says nothing
    assert len(short_description("word " * 100, 40)) <= 40


def test_no_mcp_import_without_servers() -> None:
    code = (
        "import sys, appliance.config.settings, appliance.host.wiring, appliance.host.doctor, appliance.core.commands; "
        "from appliance.host.doctor import check_mcp; from appliance.config.settings import load; "
        "check_mcp(load(env={'OPENAI_API_KEY': 'sk-xxxxxxxx'})); "
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# --- the whole appliance -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_appliance_is_ready_with_its_server_down_and_ctl_tools_shows_the_tools_once_it_is_up(
    cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.core.commands import execute
    from appliance.events import EventBus
    from appliance.host.deferred import DeferredAssistant
    from appliance.host.wiring import RunOptions, build
    from standin.voice import silence, write_wav

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    mic = tmp_path / "quiet.wav"
    write_wav(mic, silence(30.0))
    home = HttpHome(tmp_path / "home.json", free_port())
    config = tmp_path / "config.toml"
    config.write_text(f'[mcp]\nretry_max_seconds = 1.0\nping_seconds = 0.5\n[mcp.servers.home]\nurl = "{home.url}"\n')
    settings = load(config, env=cloud.env() | {"APPLIANCE_SECRET__MCP__HOME": TOKEN})
    events = Recorder()
    bus = EventBus()
    bus.subscribe(events)
    options = RunOptions(mic=str(mic), speaker=str(tmp_path / "out.wav"), pace=1.0, state_dir=str(tmp_path / "s"))
    ready = threading.Event()
    app, ports = build(settings, options, bus, on_ready=ready.set)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        assert ready.wait(60), "the appliance did not become ready while its MCP server was down"
        down = events.wait_for(lambda e: isinstance(e, Info) and e.what == "mcp_server" and ": down" in e.detail, 30)
        assert down is not None
        assert isinstance(ports.assistant, DeferredAssistant) and ports.assistant.get() is not None  # built
        reply = execute(app, "tools", ())
        assert reply["ok"] and not [t for t in reply["tools"] if t["source"] == "home"]
        home.start()
        events.wait_for(lambda e: isinstance(e, Info) and e.what == "mcp_server" and ": up" in e.detail, 30)
        reply = execute(app, "tools", ())
        mine = {t["name"]: t for t in reply["tools"] if t["source"] == "home"}
        assert len(mine) == 9 and mine["home_lock_set"]["destructive"] and mine["home_light_get"]["read_only"]
        assert "9 home" in reply["text"]
    finally:
        app.shutdown("test")
        thread.join(10)
        home.stop()


def test_a_servers_output_is_data_for_the_model_not_instructions_to_the_appliance(
    cloud: FakeCloud, http_home: HttpHome, managers: list[McpManager]
) -> None:
    from mcp_home import NOTICE

    manager = start(managers, mcp_settings({"home": {"url": http_home.url}}))
    wait_state(manager, "home", ServerState.UP, tools=9)
    a = Assistant(cloud, manager)
    before = sorted(a.registry.names())
    server, wire = ResponsesServer(cloud), Wire()
    server.then(wire.calls(("home_notice_board", {})), wire.text("Nothing new on the board."))
    assert a.ask("anything on the notice board?") == ["Nothing new on the board."]
    assert list(outputs(server.bodies()[1]).values()) == [NOTICE]  # handed over as the call's output, verbatim
    assert sorted(a.registry.names()) == before and [s.label for s in manager.status()] == ["home"]
    assert not http_home.state.exists()  # no device was touched


def test_a_server_that_answers_garbage_or_nothing_is_left_out_and_the_others_stay(
    tmp_path: Path, managers: list[McpManager]
) -> None:
    import http.server

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = b"<html>this is not JSON-RPC</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    garbage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=garbage.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections and never answers
    try:
        settings = mcp_settings(
            {
                "junk": {"url": f"http://127.0.0.1:{garbage.server_address[1]}/mcp"},
                "mute": {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"},
                "home": {"command": stdio_command(tmp_path / "s.json")},
            },
            # the stdio server (a Python process) must start within it too: 1 s was too short on a loaded machine
            connect_timeout=4.0,
        )
        manager = start(managers, settings)
        wait_state(manager, "home", ServerState.UP, tools=9)
        junk = wait_state(manager, "junk", ServerState.DOWN)
        mute = wait_state(manager, "mute", ServerState.DOWN)
        assert "no tool list within 4 s" in mute.detail
        assert junk.tools == 0 and mute.tools == 0
        assert {t.source for t in manager.tools()} == {"home"}
        assert manager.call("home", "light_get", {}, CancelToken()).startswith("{")
    finally:
        garbage.shutdown()
        silent.close()


def test_a_stdio_server_gets_a_minimal_environment_without_the_keys(
    tmp_path: Path, managers: list[McpManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-appliance-secret-key-0000")
    monkeypatch.setenv("APPLIANCE_SECRET__MCP__HOME", TOKEN)
    state = tmp_path / "env-check.json"
    manager = start(managers, mcp_settings({"home": {"command": stdio_command(state)}}))
    wait_state(manager, "home", ServerState.UP)
    found = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True, check=True)
    [pid] = found.stdout.split()
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert names <= {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}, names
    assert b"sk-appliance-secret-key-0000" not in b"".join(environ) and TOKEN.encode() not in b"".join(environ)
