"""Markdown, URLs and emojis turned into text a synthesizer reads well."""

from __future__ import annotations

import pytest

from appliance.text.sentences import SentenceSplitter
from appliance.text.speakable import SpeakableFilter, speakable


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("**Bold** and __strong__ words", "Bold and strong words"),
        ("An *italic* and _emphasised_ word", "An italic and emphasised word"),
        ("## The heading", "The heading"),
        ("Run `ls -la` now", "Run ls -la now"),
        ("- an item", "an item"),
        ("* another item", "another item"),
        ("3. third step", "3: third step"),
        ("> quoted wisdom", "quoted wisdom"),
        ("See [the docs](https://example.com/docs?a=1) for more", "See the docs for more"),
        ("![a cat](https://x.org/cat.png)", "a cat"),
        ("Visit https://www.example.com/path/page.html today.", "Visit example.com today."),
        ("Go to www.python.org.", "Go to python.org."),
        ("Great job 🎉👍🏽!", "Great job!"),
        ("I ❤️ it", "I it"),
        ("~~old~~ new", "old new"),
        ("snake_case_name and 2*3*4 stay", "snake_case_name and 2*3*4 stay"),
        ("---", ""),
        ("| Name | Age |", "Name, Age"),
        ("|---|---|", ""),
        ("🙂", ""),
        ("Plain text stays.", "Plain text stays."),
    ],
)
def test_pieces(raw: str, spoken: str) -> None:
    assert speakable(raw) == spoken


def test_whole_markdown_answer() -> None:
    text = (
        "# Shopping\n"
        "You need **three** things:\n"
        "1. Eggs\n"
        "2. *Fresh* milk\n"
        "```python\nprint('not spoken')\n```\n"
        "More at <https://shop.example.com/list>. 😀"
    )
    assert speakable(text) == "Shopping You need three things: 1: Eggs 2: Fresh milk More at shop.example.com."


def test_stream_of_sentences_drops_fenced_code() -> None:
    """Through the splitter, a code block arrives as separate lines; the filter remembers the fence."""
    text = "Here is code:\n```\nx = 1. y = 2.\nprint(x)\n```\nThat prints **one**."
    splitter = SentenceSplitter()
    spoken = SpeakableFilter()
    pieces = []
    for ch in text:
        pieces += [p for s in splitter.feed(ch) if (p := spoken(s))]
    pieces += [p for s in splitter.flush() if (p := spoken(s))]
    assert pieces == ["Here is code:", "That prints one."]
