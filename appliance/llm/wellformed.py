"""Whether a stream event has what :class:`~appliance.llm.parsing.EventParser` reads from it, of the right type.

The SDK builds events without validating them (``construct_type_unchecked``): a ``delta`` that is a number, a
``response`` that is a string or a missing field reaches the parser as it came, and would fail there as a
``TypeError`` or ``AttributeError``, an internal error of the appliance. Over the WebSocket such an event is a
fault of the transport (:mod:`.transport` falls back to HTTP, or ends the answer as for a lost connection), so
it is caught before the parser sees it. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
_STR = (str,)
_INT = (int,)
_ANY = (object,)
_STR_OR_NONE = (str, type(None))

#: Event type -> the fields the parser reads and the types they must have.
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "response.output_text.delta": {"delta": _STR},
    "response.refusal.delta": {"delta": _STR},
    "response.function_call_arguments.delta": {"item_id": _STR, "delta": _STR},
    "response.function_call_arguments.done": {"item_id": _STR, "arguments": _STR},
    "response.output_item.added": {"output_index": _INT, "item": _ANY},
    "response.output_item.done": {"output_index": _INT, "item": _ANY},
    "response.completed": {"response": _ANY},
    "response.incomplete": {"response": _ANY},
    "response.failed": {"response": _ANY},
}
#: An error's code and message (``error`` events, ``response.failed``), read with ``getattr(..., None)``.
_ERROR_FIELDS: dict[str, tuple[type, ...]] = {"code": _STR_OR_NONE, "message": _STR_OR_NONE}
_CALL_FIELDS: dict[str, tuple[type, ...]] = {
    "id": _STR_OR_NONE,
    "call_id": _STR,
    "name": _STR,
    "arguments": _STR_OR_NONE,
}
_ITEM_EVENTS = ("response.output_item.added", "response.output_item.done")
_FINISHED = ("response.completed", "response.incomplete")


def malformed(event: Any) -> str | None:
    """What is wrong with ``event`` (for the log), or None when the parser can read it. Event types the parser
    ignores pass as long as they have a type."""
    kind = getattr(event, "type", None)
    if not isinstance(kind, str) or not kind:
        return f"no event type ({type(event).__name__})"
    problem = _fields(event, _FIELDS.get(kind, {}))
    if problem is None and kind in _ITEM_EVENTS:
        problem = _item(getattr(event, "item", None), "item")
    elif problem is None and kind in _FINISHED:
        problem = _response(getattr(event, "response", None))
    elif problem is None and kind == "response.failed":
        response = getattr(event, "response", None)
        problem = _fields(getattr(response, "error", None), _ERROR_FIELDS, absent=True)
    elif kind == "error":  # the code on the event (over HTTP) or in its ``error`` (over the WebSocket)
        problem = _fields(event, _ERROR_FIELDS, absent=True) or _fields(
            getattr(event, "error", None), _ERROR_FIELDS, absent=True
        )
    return None if problem is None else f"{kind}: {problem}"


def _fields(obj: Any, fields: dict[str, tuple[type, ...]], *, absent: bool = False) -> str | None:
    """The first field of ``obj`` missing (unless ``absent`` allows it) or of another type, or None."""
    for name, types in fields.items():
        value = getattr(obj, name, _MISSING)
        if value is _MISSING:
            if absent:
                continue
            return f"{name} missing"
        if not isinstance(value, types) or (isinstance(value, bool) and types == _INT):
            return f"{name} is {type(value).__name__}"
    return None


def _item(item: Any, where: str) -> str | None:
    kind = getattr(item, "type", None)
    if not isinstance(kind, str):
        return f"{where} without a type ({type(item).__name__})"
    if kind != "function_call":
        return None
    problem = _fields(item, _CALL_FIELDS)
    return None if problem is None else f"{where} {problem}"


def _response(response: Any) -> str | None:
    problem = _fields(response, {"id": _STR})
    if problem is not None:
        return f"response {problem}"
    output = getattr(response, "output", None)
    if output is None:
        return None
    if not isinstance(output, list):
        return f"response output is {type(output).__name__}"
    for index, item in enumerate(output):
        problem = _item(item, f"response output {index}")
        if problem is not None:
            return problem
    return None
