"""The package layout is the architecture (docs/architecture.md): who may import whom, and no import cycles.

Every import in every module counts, wherever it sits (module level, inside a function, under TYPE_CHECKING):
a cycle that only a lazy import keeps from failing is still two modules that cannot be read apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import appliance

PACKAGE = Path(appliance.__file__).resolve().parent

#: the layers, from the bottom: a module may import its own layer and those below it, never one above
LAYERS: dict[str, int] = {
    # the shared vocabulary and configuration
    "ports": 0,
    "events": 0,
    "errors": 0,
    "cancel": 0,
    "deadline": 0,
    "timings": 0,
    "retry": 0,
    "registry": 0,
    "debug_folder": 0,
    "websocket_log": 0,
    "imports": 0,
    "text": 0,
    "config": 0,
    # the capabilities: hardware, models, cloud services and tools, each behind its port
    "audio": 1,
    "camera": 1,
    "frontend": 1,
    "gpio": 1,
    "listening": 1,
    "llm": 1,
    "local": 1,
    "mcp": 1,
    "speech": 1,
    "stt": 1,
    "timers": 1,
    "tools": 1,
    "tts": 1,
    "wake": 1,
    "household": 1,
    "metrics": 1,
    # the core loop, then the host that builds and runs it
    "core": 2,
    "host": 3,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The appliance modules `name` imports (a package import counts as its __init__)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "appliance":
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_top_level_name_has_a_layer() -> None:
    tops = {name.split(".")[1] for name in modules() if name.count(".") >= 1}
    assert tops - {"__main__"} <= set(LAYERS), sorted(tops - set(LAYERS))


def test_nothing_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        for dst in dsts
        if (a := layer(src)) is not None and (b := layer(dst)) is not None and b > a
    ]
    assert not upward, "\n".join(sorted(upward))


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert not cycles(graph())


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_wheel_holds_the_product_and_not_the_stand_in_cloud(tmp_path: Path) -> None:
    """What a Pi installs is the wheel built from this checkout: the stand-in cloud (standin/) stays out."""
    import subprocess
    import zipfile

    root = PACKAGE.parent
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(tmp_path)], cwd=root, check=True, capture_output=True, timeout=300
    )
    (wheel,) = tmp_path.glob("appliance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("standin/") or "/sim/" in n], names
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"appliance"}, tops
    for expected in ("appliance/core/machine.py", "appliance/local/en.yaml", "appliance/host/cli.py"):
        assert expected in names


def test_the_command_line_loads_without_the_appliance() -> None:
    """`appliance ctl`, `config reference` and `--help` run where the appliance's libraries may not be (the
    deploy's checks, a health probe): building the command line imports no numpy and none of the ports."""
    import subprocess
    import sys

    probe = "import sys, appliance.host.cli; print(sorted({'numpy', 'appliance.ports'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
