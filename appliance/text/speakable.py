"""Turn model text into something a speech synthesizer reads well.

The instructions ask for plain spoken text, but models still emit markdown now and then, and an answer from
the hosted web search carries inline citations ("([site](https://…))"): they are dropped, a link in the
running text is read as its words, a bare URL as its site. Pure functions:
:func:`speakable` cleans one piece (a sentence from the splitter, or a whole text); :class:`SpeakableFilter`
does the same for a stream of pieces and also drops fenced code blocks, which span several pieces.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_LINK_ONLY = r"\[[^\]]*\]\((?:[^()]|\([^)]*\))*\)"
#: A citation the hosted web search writes inline: "([site](https://…?utm_source=openai))", one or several links
#: in parentheses. The source is named elsewhere in words if it matters; the marker itself is not read.
_CITATION = re.compile(rf"\s*\(\s*{_LINK_ONLY}(?:\s*[,;]?\s*{_LINK_ONLY})*\s*\)")
#: Footnote-style markers: "[1]" (not a link's text) and "【4:0†source】".
_MARKER = re.compile(r"\s*(?:\[\d{1,3}\](?!\()|【[^】]*】)")
_AUTOLINK = re.compile(r"<((?:https?://|www\.)[^>\s]+)>")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]\"']+", re.IGNORECASE)
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_BULLET = re.compile(r"^\s*[-*+•]\s+")
_NUMBERED = re.compile(r"^\s*(\d{1,3})[.)]\s+")
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CODE = re.compile(r"`+([^`]+)`+")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, symbols & pictographs ext.
    "\u2600-\u27bf"  # miscellaneous symbols, dingbats
    "\u2b00-\u2bff"  # arrows and stars used as emoji
    "\ufe0e\ufe0f"  # variation selectors
    "\u200d"  # zero-width joiner
    "\u20e3"  # keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
_SPACES = re.compile(r"[ \t\u00A0]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def speakable(text: str) -> str:
    """Markdown, URLs and emojis removed or rewritten; "" when nothing is left worth saying."""
    lines = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        cleaned = _line(line)
        if cleaned:
            lines.append(cleaned)
    return " ".join(lines)


class SpeakableFilter:
    """:func:`speakable` for a stream of pieces; remembers when a fenced code block is open."""

    def __init__(self) -> None:
        self._in_fence = False

    @property
    def in_fence(self) -> bool:
        """Inside a fenced code block (nothing of it is spoken)."""
        return self._in_fence

    def __call__(self, piece: str) -> str:
        out = []
        for line in piece.splitlines():
            if _FENCE.match(line):
                self._in_fence = not self._in_fence
                continue
            if not self._in_fence:
                cleaned = _line(line)
                if cleaned:
                    out.append(cleaned)
        return " ".join(out)


def _line(line: str) -> str:
    if _RULE.match(line) or _TABLE_SEPARATOR.match(line):
        return ""
    line = _HEADER.sub("", line)
    line = _QUOTE.sub("", line)
    line = _BULLET.sub("", line)
    line = _NUMBERED.sub(r"\1: ", line)
    if line.count("|") >= 2:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        line = ", ".join(c for c in cells if c)
    line = _IMAGE.sub(r"\1", line)
    line = _CITATION.sub("", line)
    line = _MARKER.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = _AUTOLINK.sub(r"\1", line)
    line = _URL.sub(lambda m: _site(m.group(0)), line)
    line = _CODE.sub(r"\1", line)
    line = _BOLD.sub(r"\2", line)
    line = _ITALIC_STAR.sub(r"\1", line)
    line = _ITALIC_UNDERSCORE.sub(r"\1", line)
    line = _STRIKE.sub(r"\1", line)
    line = _HTML_TAG.sub("", line)
    line = _EMOJI.sub("", line)
    line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_PUNCT.sub(r"\1", line).strip()
    if not any(ch.isalnum() for ch in line):
        return ""
    return line


def _site(url: str) -> str:
    """A URL is read as its site name: "https://www.example.com/a?b=c" -> "example.com"."""
    trailing = ""
    while url and url[-1] in ".,;:!?":
        trailing = url[-1] + trailing
        url = url[:-1]
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    host = re.split(r"[/?#:]", host, maxsplit=1)[0]
    return host + trailing
