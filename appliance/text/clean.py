"""Text from outside the appliance (the model, tools, transcription) made safe once, where it enters.

A Python string may hold what no encoder takes: a lone surrogate (half of a UTF-16 pair, which JSON can carry
as an escape such as ``"\\ud800"``). One in a timer's label made the next model request fail (the SDK could
not encode the body) and the JSON-lines sink drop every event that carried it. Control characters encode,
but mean nothing to speech and can upset a terminal reading the event stream. Pure; no I/O.

Applied where text enters: the model's text deltas and its function-call arguments (:mod:`.llm.parsing`),
tool outputs (:mod:`.tools.runner`), transcripts (:mod:`.stt.openai`, :mod:`.stt.segments`). The JSON-lines
sink (:mod:`.events`) repeats it for an event that arrives unclean anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: What :func:`clean_text` changes: C0 controls but tab, line feed and carriage return; DEL and the C1
#: controls; surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Controls that separate words (form feed, vertical tab, the information separators, next line).
_SPACING = re.compile("[\x0b\x0c\x1c-\x1f\x85]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def clean_text(text: str) -> str:
    """``text`` without lone surrogates or control characters (tab and line ends stay; a control that separates
    words, such as a form feed, becomes a space). A surrogate pair held as two halves becomes the character
    it encodes. Lone halves are removed, not replaced with U+FFFD: there is nothing to say for them, and a
    timer's label "\\ufffdtea" would be neither spoken nor matched as "tea". Clean text comes back as it was."""
    if not _UNSAFE.search(text):
        return text
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
    return _CONTROL.sub("", _SPACING.sub(" ", text))


def clean_value(value: Any) -> Any:
    """A JSON value with every string in it, keys included, passed through :func:`clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): clean_value(item) for key, item in value.items()}
    return value


def clean_json_text(text: str) -> str:
    """JSON text (a function call's arguments) whose strings are clean once decoded, escapes included.

    Text whose value is clean already comes back as it was, spacing and escapes and all; text that is not
    JSON comes back with :func:`clean_text` applied (whoever parses it reports that it is not JSON)."""
    try:
        value = json.loads(text)
        cleaned = clean_value(value)
    except (ValueError, RecursionError):
        return clean_text(text)
    return text if cleaned == value else json.dumps(cleaned, ensure_ascii=False)
