"""The host-side steps of building the emulated arm64 root: they change nothing the root installs.

The .debs are real ones, built with the host's dpkg-deb (xz, as Debian's archive ships them), and read back
with dpkg-deb, as the second stage's dpkg reads them.
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "arm64_root.py"
root_steps: dict[str, Any] = runpy.run_path(str(SCRIPT), run_name="arm64_root")

INDEX = """Package: dash
Version: 0.5.12-2
Depends: debianutils (>= 5.6-0.1)
Description: POSIX-compliant shell
 The Debian Almquist Shell.

Package: emacs
Version: 1:28.2+1-15

Package: gcc
Version: 4:12.2.0-3
Depends: cpp (= 4:12.2.0-3), gcc-12 (>= 12.2.0-1~)
"""


def test_the_index_keeps_the_stanzas_of_the_chosen_packages_whole():
    text, missing = root_steps["slim"](INDEX, {"dash", "gcc", "portaudio19-dev"})
    assert text.split("\n\n") == [
        "Package: dash\nVersion: 0.5.12-2\nDepends: debianutils (>= 5.6-0.1)\n"
        "Description: POSIX-compliant shell\n The Debian Almquist Shell.",
        "Package: gcc\nVersion: 4:12.2.0-3\nDepends: cpp (= 4:12.2.0-3), gcc-12 (>= 12.2.0-1~)\n",
    ]
    assert missing == {"portaudio19-dev"}


needs_dpkg_deb = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")


def _first_stage_root(tmp_path: Path, required: str, base: str) -> Path:
    root = tmp_path / "root"
    (root / "debootstrap").mkdir(parents=True)
    (root / "debootstrap/required").write_text(required + "\n")
    (root / "debootstrap/base").write_text(base + "\n")
    (root / "var/lib/apt/lists").mkdir(parents=True)
    (root / "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages").write_text(INDEX)
    return root


def test_the_cut_index_is_put_back_whole_after_the_second_stage(tmp_path):
    root = _first_stage_root(tmp_path, "dash", "gcc")
    index = root / "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages"
    root_steps["slim_index"](root)
    assert "emacs" not in index.read_text() and "Package: gcc" in index.read_text()
    root_steps["full_index"](root)
    assert index.read_text() == INDEX
    assert sorted(p.name for p in index.parent.iterdir()) == [index.name]


def test_a_chosen_package_missing_from_the_index_fails_the_build(tmp_path):
    root = _first_stage_root(tmp_path, "dash", "gcc libportaudio2")
    with pytest.raises(SystemExit, match="lacks 1 chosen packages: libportaudio2"):
        root_steps["slim_index"](root)


def _deb(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    tree = tmp_path / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: arm64\nMaintainer: t <t@example.org>\n"
        "Description: a test package\n"
    )
    (tree / "DEBIAN/postinst").write_text("#!/bin/sh\nexit 0\n")
    (tree / "DEBIAN/postinst").chmod(0o755)
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    (tree / "usr/bin").mkdir(parents=True, exist_ok=True)
    (tree / "usr/bin/tool").write_bytes(b"\x7fELF" + bytes(range(256)) * 40)
    (tree / "usr/bin/tool").chmod(0o4755)
    (tree / "usr/bin/alias").symlink_to("tool")
    deb = tmp_path / f"{name}_1.0_arm64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(tree), str(deb)], check=True, capture_output=True
    )
    return deb


def _dpkg_deb(*args: str | Path) -> str:
    return subprocess.run(["dpkg-deb", *map(str, args)], check=True, capture_output=True, text=True).stdout


def _names(deb: Path) -> list[str]:
    return [name for name, _, _ in root_steps["members"](deb.read_bytes())]


@needs_dpkg_deb
def test_an_uncompressed_deb_holds_the_same_files_control_and_scripts(tmp_path):
    files = {"usr/share/thing/odd.txt": b"x" * 1001, "etc/thing.conf": b"a=1\n"}
    original = _deb(tmp_path, "thing", files)
    plain = tmp_path / "plain.deb"
    plain.write_bytes(root_steps["decompressed"](original.read_bytes()))

    assert _names(original) == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    assert _names(plain) == ["debian-binary", "control.tar", "data.tar"]
    assert plain.stat().st_size > original.stat().st_size
    # the listing has modes, owners, sizes, times and link targets
    assert _dpkg_deb("--contents", plain) == _dpkg_deb("--contents", original)
    assert _dpkg_deb("--field", plain) == _dpkg_deb("--field", original)
    for deb in (original, plain):
        _dpkg_deb("--raw-extract", deb, tmp_path / deb.stem)
    ours, theirs = tmp_path / "plain", tmp_path / original.stem
    for path in [*files, "usr/bin/tool", "DEBIAN/postinst", "DEBIAN/control"]:
        assert (ours / path).read_bytes() == (theirs / path).read_bytes()
        assert (ours / path).stat().st_mode == (theirs / path).stat().st_mode


@needs_dpkg_deb
def test_every_downloaded_deb_of_the_root_is_decompressed_in_place(tmp_path):
    archives = tmp_path / "root/var/cache/apt/archives"
    archives.mkdir(parents=True)
    for name in ("one", "two"):
        _deb(tmp_path, name, {"usr/share/doc/x": name.encode()}).rename(archives / f"{name}_1.0_arm64.deb")
    root_steps["decompress"](tmp_path / "root")
    assert sorted(p.name for p in archives.iterdir()) == ["one_1.0_arm64.deb", "two_1.0_arm64.deb"]
    for deb in archives.iterdir():
        assert _names(deb)[1:] == ["control.tar", "data.tar"]
        assert "./usr/share/doc/x" in _dpkg_deb("--contents", deb)


def test_a_file_that_is_not_an_ar_archive_is_refused():
    with pytest.raises(ValueError, match="not an ar archive"):
        root_steps["decompressed"](b"PK\x03\x04 a zip file")
