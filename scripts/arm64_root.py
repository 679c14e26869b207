"""Host-side steps of building the emulated arm64 root (scripts/test-arm64), standard library only.

Both move work that debootstrap's second stage would do under emulation, ~35 times slower than natively, onto
the host, and change nothing the second stage installs:

    arm64_root.py slim-index ROOT   the package index the second stage reads, cut to the packages it installs
    arm64_root.py full-index ROOT   the whole index put back afterwards
    arm64_root.py decompress ROOT   the downloaded .debs with their tar members uncompressed

The second stage writes dpkg's list of available packages by reading the release's whole index (~50 MB) with
perl; the first stage already chose the packages and their dependencies, whose stanzas are all it needs.
dpkg reads a .deb's data.tar.xz through liblzma, which is slow under emulation (12.8 s for gcc-14's compiler,
2.3 s for the same package with an uncompressed data.tar; unpacking the base packages took 100 s, not 150). A
.deb may hold uncompressed tar members (deb(5)); the files, their metadata and the control data stay byte for
byte the same.
"""

from __future__ import annotations

import lzma
import os
import sys
from collections.abc import Iterator
from pathlib import Path

AR_MAGIC = b"!<arch>\n"
HEADER = 60  # name 16, mtime 12, uid 6, gid 6, mode 8, size 10, "`\n"


def _indexes(root: Path) -> list[Path]:
    return sorted((root / "var/lib/apt/lists").glob("*_Packages"))


def _chosen(root: Path) -> set[str]:
    names = set()
    for part in ("required", "base"):
        names.update((root / "debootstrap" / part).read_text().split())
    return names


def slim(index: str, chosen: set[str]) -> tuple[str, set[str]]:
    """The stanzas of the chosen packages, and the chosen names the index lacks."""
    kept, found = [], set()
    for stanza in index.split("\n\n"):
        stanza = stanza.strip("\n")
        first = stanza.partition("\n")[0]
        if first.startswith("Package:") and (name := first.partition(":")[2].strip()) in chosen:
            kept.append(stanza + "\n")
            found.add(name)
    return "\n".join(kept), chosen - found


def slim_index(root: Path) -> None:
    indexes = _indexes(root)
    if not indexes:
        raise SystemExit(f"no package index under {root}/var/lib/apt/lists")
    chosen = _chosen(root)
    found: set[str] = set()
    for index in indexes:
        full = index.with_name(index.name + ".full")
        index.rename(full)
        text, missing = slim(full.read_text(encoding="utf-8"), chosen)
        index.write_text(text, encoding="utf-8")
        found |= chosen - missing
    if lost := chosen - found:
        raise SystemExit(f"the package index lacks {len(lost)} chosen packages: {' '.join(sorted(lost)[:5])}")


def full_index(root: Path) -> None:
    for full in sorted((root / "var/lib/apt/lists").glob("*_Packages.full")):
        full.replace(full.with_name(full.name.removesuffix(".full")))


def members(data: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    """(name, header, body) of each member of an ar archive."""
    if data[: len(AR_MAGIC)] != AR_MAGIC:
        raise ValueError("not an ar archive")
    pos = len(AR_MAGIC)
    while pos < len(data):
        header = data[pos : pos + HEADER]
        if len(header) < HEADER or header[58:60] != b"`\n":
            raise ValueError(f"bad ar member header at byte {pos}")
        size = int(header[48:58])
        yield header[:16].decode("ascii").strip().rstrip("/"), header, data[pos + HEADER : pos + HEADER + size]
        pos += HEADER + size + (size & 1)


def _header(original: bytes, name: str, size: int) -> bytes:
    return name.ljust(16).encode("ascii") + original[16:48] + str(size).ljust(10).encode("ascii") + b"`\n"


def decompressed(deb: bytes) -> bytes:
    """The .deb with its xz-compressed tar members stored uncompressed; other members unchanged."""
    out = [AR_MAGIC]
    for name, header, body in members(deb):
        if name.endswith(".tar.xz"):
            name, body = name.removesuffix(".xz"), lzma.decompress(body)
        out += [_header(header, name, len(body)), body, b"\n" if len(body) & 1 else b""]
    return b"".join(out)


def decompress(root: Path) -> None:
    debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise SystemExit(f"no downloaded packages under {root}/var/cache/apt/archives")
    for deb in debs:
        tmp = deb.with_name(deb.name + ".tmp")
        tmp.write_bytes(decompressed(deb.read_bytes()))
        os.replace(tmp, deb)


def main(argv: list[str]) -> None:
    commands = {"slim-index": slim_index, "full-index": full_index, "decompress": decompress}
    if len(argv) != 2 or argv[0] not in commands:
        raise SystemExit(f"usage: arm64_root.py {'|'.join(commands)} ROOT")
    commands[argv[0]](Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
