"""Regenerate the committed test images in tests/data/ (run once; the JPEGs are committed).

Why committed: the project has no imaging dependency (no Pillow) and CI machines need not have
ImageMagick, so the tests read the small JPEG produced here instead of making it at run time.

    apt-get install -y imagemagick      # provides `convert`
    python3 tests/data/make_images.py   # rewrites tests/data/x.jpg

x.jpg: a red filled circle on a white background, 320×240, baseline JPEG (quality 85, 4:2:0, no
metadata: ``-strip`` drops the timestamps, so the same ImageMagick version writes the same bytes).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

IMAGES = {
    "x.jpg": [
        "-size",
        "320x240",
        "xc:white",
        "-fill",
        "#d01010",
        "-stroke",
        "#600000",
        "-strokewidth",
        "3",
        "-draw",
        "circle 160,120 160,40",
        "-strip",
        "-interlace",
        "none",
        "-sampling-factor",
        "2x2",
        "-quality",
        "85",
    ],
}


def main() -> int:
    convert = shutil.which("convert", path="/usr/bin") or shutil.which("convert")
    if convert is None:
        print("needs ImageMagick's convert: apt-get install -y imagemagick", file=sys.stderr)
        return 1
    for name, args in IMAGES.items():
        out = HERE / name
        subprocess.run([convert, *args, f"jpeg:{out}"], check=True)
        data = out.read_bytes()
        if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
            print(f"{out}: not a complete JPEG", file=sys.stderr)
            return 1
        print(f"{out}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
