"""The household's wire format: small signed datagrams, pure functions of bytes, keys and the time given.

Every datagram is ``header | group | device | body | tag``:

- header ``!2sBBqQ``: the magic ``b"AH"``, the version (1), the kind (claim, announce, ack), the sender's wall
  clock in milliseconds when it sent it, and a random 64-bit nonce;
- the group name and the sender's device id, each a length byte and UTF-8 (at most 48 bytes);
- the body of its kind (claim, announce, ack, won: the dataclasses below);
- HMAC-SHA256 over everything before it, keyed with a key derived from the group secret *and* the group name
  (the same secret in two groups gives two keys).

Checks, in order, each a :class:`Rejected` with a reason a counter can use: size (``too_big``, more than
:data:`MAX_PACKET` bytes, before anything is parsed), ``malformed``, ``version``, ``group`` (another
household's traffic, dropped before any HMAC is computed), ``signature`` (wrong secret or altered), ``stale``
(sent more than ``tolerance`` seconds from the receiver's clock: a replay captured long ago, or a device whose
clock is off by more than that; it then answers alone, never goes silent), ``replay`` (a (device, nonce) seen
within the tolerance). A claim's wake time is an *offset from its sending* (the receiver subtracts it from when
it got it), so arbitration itself never compares two devices' clocks.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"AH"
VERSION = 1
MAX_PACKET = 1024
"""No datagram is larger: a claim is about 90 bytes, an announcement at most :data:`MAX_TEXT` bytes of text."""
MAX_NAME = 48
MAX_TEXT = 700
MAX_STATUS = 80
TAG_BYTES = 32
_HEADER = struct.Struct("!2sBBqQ")
_CLAIM = struct.Struct("!ifffB")  # wake offset ms, level dB, SNR dB, score, priority
_ANNOUNCE = struct.Struct("!IBH")  # announcement id, chime, text length
_ACK = struct.Struct("!IB")  # announcement id, status length (then the status, then the announcer's id)
_WON = struct.Struct("!i")  # wake offset ms


class Kind(IntEnum):
    CLAIM = 1
    ANNOUNCE = 2
    ACK = 3
    WON = 4


class Rejected(ValueError):
    """A datagram that is not taken; ``reason`` is one word (too_big, malformed, version, group, signature,
    stale, replay)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    """I heard the wake word ``wake_offset_ms`` before sending this, this well."""

    level_db: float  # the wake word's speech level, dBFS
    snr_db: float  # its level over the noise floor just before it
    score: float  # the wake model's score
    wake_offset_ms: int = 0
    priority: int = 0  # 1: the wake word interrupted this device's own conversation (it keeps it)


@dataclass(frozen=True)
class Announce:
    id: int
    text: str
    chime: bool = True


@dataclass(frozen=True)
class Ack:
    id: int
    announcer: str  # the device whose announcement this answers
    status: str  # "" = played; else why not ("busy (speaking)")


@dataclass(frozen=True)
class Won:
    """I answer the wake word I heard ``wake_offset_ms`` before sending this (the losers wait for it: if it
    never comes, the winner died mid-window, and they answer instead)."""

    wake_offset_ms: int = 0


Body = Claim | Announce | Ack | Won


@dataclass(frozen=True)
class Message:
    group: str
    device: str
    sent_ms: int  # the sender's wall clock (only for freshness; never compared between devices otherwise)
    nonce: int
    body: Body


def derive_key(secret: str, group: str) -> bytes:
    """The HMAC key of one group (never the secret itself on the wire or in memory beyond this)."""
    return hmac.new(secret.encode(), b"appliance household v1\x00" + group.encode(), hashlib.sha256).digest()


def new_nonce() -> int:
    return int.from_bytes(os.urandom(8), "big")


def _name(value: str, what: str) -> bytes:
    raw = value.encode()
    if not 0 < len(raw) <= MAX_NAME:
        raise ValueError(f"{what} must be 1 to {MAX_NAME} bytes of UTF-8: {value!r}")
    return bytes([len(raw)]) + raw


def encode(message: Message, key: bytes) -> bytes:
    """The signed datagram. Raises ValueError for what could not be sent (a name or text too long)."""
    kind, body = _encode_body(message.body)
    head = _HEADER.pack(MAGIC, VERSION, kind, message.sent_ms, message.nonce)
    data = head + _name(message.group, "group") + _name(message.device, "device id") + body
    packet = data + hmac.new(key, data, hashlib.sha256).digest()
    if len(packet) > MAX_PACKET:
        raise ValueError(f"datagram of {len(packet)} bytes: more than {MAX_PACKET}")
    return packet


def _encode_body(body: Body) -> tuple[Kind, bytes]:
    match body:
        case Claim(level, snr, score, offset, priority):
            offset = max(-(2**31), min(2**31 - 1, int(offset)))
            return Kind.CLAIM, _CLAIM.pack(offset, level, snr, score, priority & 0xFF)
        case Announce(id, text, chime):
            raw = text.encode()
            if len(raw) > MAX_TEXT:
                raise ValueError(f"announcement of {len(raw)} bytes: more than {MAX_TEXT}")
            return Kind.ANNOUNCE, _ANNOUNCE.pack(id & 0xFFFFFFFF, int(chime), len(raw)) + raw
        case Ack(id, announcer, status):
            raw = status.encode()[:MAX_STATUS]
            return Kind.ACK, _ACK.pack(id & 0xFFFFFFFF, len(raw)) + raw + _name(announcer, "announcer")
        case Won(offset):
            return Kind.WON, _WON.pack(max(-(2**31), min(2**31 - 1, int(offset))))
    raise TypeError(f"not a household message body: {body!r}")


class _Reader:
    def __init__(self, data: bytes, start: int) -> None:
        self.data, self.at = data, start

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise Rejected("malformed", "truncated")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def name(self) -> str:
        n = self.take(1)[0]
        if not 0 < n <= MAX_NAME:
            raise Rejected("malformed", "bad name length")
        return self.text(n)

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode()
        except UnicodeDecodeError:
            raise Rejected("malformed", "not UTF-8") from None


def decode(data: bytes, key: bytes, group: str, now_ms: int, tolerance_ms: int) -> Message:
    """The message in ``data`` if it is whole, of ``group``, signed with ``key`` and fresh at ``now_ms`` (the
    receiver's wall clock); raises :class:`Rejected` otherwise. Replays are the caller's (:class:`ReplayCache`)."""
    if len(data) > MAX_PACKET:
        raise Rejected("too_big", f"{len(data)} bytes")
    if len(data) < _HEADER.size + 2 + TAG_BYTES:
        raise Rejected("malformed", "too short")
    magic, version, kind, sent_ms, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise Rejected("malformed", "not a household datagram")
    if version != VERSION:
        raise Rejected("version", f"version {version}")
    signed, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    reader = _Reader(signed, _HEADER.size)
    their_group = reader.name()
    if their_group != group:
        raise Rejected("group", their_group)
    if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), tag):
        raise Rejected("signature")
    device = reader.name()
    if abs(now_ms - sent_ms) > tolerance_ms:
        raise Rejected("stale", f"{(now_ms - sent_ms) / 1000:+.1f} s from this device's clock")
    body = _decode_body(kind, reader)
    if reader.at != len(signed):
        raise Rejected("malformed", "trailing bytes")
    return Message(group, device, sent_ms, nonce, body)


def _decode_body(kind: int, reader: _Reader) -> Body:
    if kind == Kind.CLAIM:
        offset, level, snr, score, priority = _CLAIM.unpack(reader.take(_CLAIM.size))
        values = (level, snr, score)
        if any(v != v or abs(v) > 1000 for v in values) or not 0 <= score <= 1:  # NaN, infinities, nonsense
            raise Rejected("malformed", "claim values out of range")
        return Claim(level, snr, score, offset, priority)
    if kind == Kind.ANNOUNCE:
        id, chime, length = _ANNOUNCE.unpack(reader.take(_ANNOUNCE.size))
        if length > MAX_TEXT:
            raise Rejected("malformed", "announcement too long")
        return Announce(id, reader.text(length), bool(chime))
    if kind == Kind.ACK:
        id, length = _ACK.unpack(reader.take(_ACK.size))
        status = reader.text(length)
        return Ack(id, reader.name(), status)
    if kind == Kind.WON:
        return Won(_WON.unpack(reader.take(_WON.size))[0])
    raise Rejected("malformed", f"unknown kind {kind}")


class ReplayCache:
    """The (device, nonce) pairs seen within ``keep_ms``; bounded, oldest forgotten first."""

    def __init__(self, keep_ms: int, limit: int = 4096) -> None:
        self.keep_ms, self.limit = keep_ms, limit
        self._seen: OrderedDict[tuple[str, int], int] = OrderedDict()

    def check(self, message: Message, now_ms: int) -> None:
        """Remember ``message``; raises Rejected("replay") if it was seen already."""
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now_ms - at <= self.keep_ms and len(self._seen) < self.limit:
                break
            del self._seen[key]
        key = (message.device, message.nonce)
        if key in self._seen:
            raise Rejected("replay", message.device)
        self._seen[key] = now_ms

    def __len__(self) -> int:
        return len(self._seen)
