"""One control request on the wire: its limits, its parsing into (cmd, args), and the reply's encoding."""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

#: Limits on one request: its size in bytes, its JSON nesting ({"args": [...]} is 2), its arguments.
MAX_REQUEST = 16 * 1024
MAX_DEPTH = 4
MAX_ARGS = 64

USAGE = 'send one JSON object and a newline: {"cmd": "status", "args": []}'


class RequestError(ValueError):
    """A request the server answers with an error reply (the message is the reply's "error")."""


def _too_deep(text: str, limit: int) -> bool:
    """Whether JSON text nests deeper than ``limit``, found without parsing (the parser would recurse)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _valid_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise RequestError(f"{what} must be a string, not {_json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"{what} is not valid Unicode (a lone surrogate)") from None
    return value


def _json_type(value: object) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def parse_request(data: bytes) -> tuple[str, list[str]]:
    """One request line → (cmd, args). Raises RequestError (and nothing else) for anything malformed."""
    if len(data) > MAX_REQUEST:
        raise RequestError(f"request too large (over {MAX_REQUEST} bytes)")
    line = data.split(b"\n", 1)[0].strip()
    if not line:
        raise RequestError(f"empty request: {USAGE}")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(f"the request is not UTF-8: {USAGE}") from None
    if _too_deep(text, MAX_DEPTH):
        raise RequestError(f"the request nests deeper than {MAX_DEPTH} levels: {USAGE}")
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"not JSON ({exc}): {USAGE}") from None
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object, not {_json_type(request)}: {USAGE}")
    unknown = sorted(str(k) for k in request if k not in ("cmd", "args"))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))}: {USAGE}")
    if "cmd" not in request:
        raise RequestError(f'"cmd" is missing: {USAGE}')
    cmd = _valid_text(request["cmd"], '"cmd"')
    args = request.get("args", [])
    if not isinstance(args, list):
        raise RequestError(f'"args" must be a list of strings, not {_json_type(args)}')
    if len(args) > MAX_ARGS:
        raise RequestError(f'"args" has {len(args)} items (at most {MAX_ARGS})')
    return cmd, [_valid_text(a, f'"args"[{i}]') for i, a in enumerate(args)]


def encode_reply(reply: object) -> bytes:
    try:
        return json.dumps(reply, allow_nan=False).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        log.error("control reply is not JSON: %s", exc)
        return json.dumps({"ok": False, "error": "internal error: the reply could not be encoded"}).encode() + b"\n"
