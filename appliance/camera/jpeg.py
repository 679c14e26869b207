"""Checks every frame passes before it leaves the camera adapters, whichever adapter made it.

The model only accepts real images below a size limit; refusing a bad frame here gives the user a clear
spoken reason ("the image is too large") instead of a 400 from the API after a round trip.
"""

from __future__ import annotations

from appliance.errors import CameraError

SOI = b"\xff\xd8\xff"  # start-of-image marker followed by the first segment's marker byte
EXTENSIONS = (".jpg", ".jpeg")


def check_jpeg(data: bytes, max_bytes: int, source: str = "the camera") -> bytes:
    """Return ``data`` if it is a JPEG no larger than ``max_bytes``; else raise CameraError."""
    if not data:
        raise CameraError(f"{source} returned an empty image")
    if not data.startswith(SOI):
        raise CameraError(f"{source} did not return a JPEG image")
    if len(data) > max_bytes:
        raise CameraError(f"image too large: {len(data)} bytes from {source} (the limit is {max_bytes})")
    return data


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's start-of-frame segment, or None if not found (for logs and tests)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        if marker == 0xDA:  # start of scan: no frame header before it
            return None
        i += 2 + length
    return None
