"""The sentence splitter: whole sentences as early as possible, never a false split."""

from __future__ import annotations

import random

import pytest

from appliance.text.sentences import SentenceSplitter


def split(text: str, *, step: int | None = 1, seed: int = 0, **kwargs: int) -> list[str]:
    """Feed ``text`` in deltas of ``step`` characters (None: random sizes, like a model's tokens)."""
    splitter = SentenceSplitter(**kwargs)
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while i < len(text):
        n = step if step is not None else rng.randint(1, 9)
        out += splitter.feed(text[i : i + n])
        i += n
    return out + splitter.flush()


@pytest.mark.parametrize("step", [1, 3, None, 10_000])
def test_plain_sentences(step: int | None) -> None:
    text = "Hello there! How are you today? I am fine. Thanks for asking."
    assert split(text, step=step) == ["Hello there!", "How are you today?", "I am fine.", "Thanks for asking."]


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith and Mrs. Jones met St. Peter at noon.",
        "Use a tool, e.g. a hammer, or i.e. anything hard.",
        "Pi is about 3.14 and e is about 2.718 today.",
        "The U.S. Army and the U.K. Navy were there.",
        "Well... maybe tomorrow, or… perhaps not at all.",
        "You need: 1. eggs 2. milk 3. flour and nothing else.",
        "John F. Kennedy gave a speech.",
        'He said "stop." and left the room.',
        "Version 2.0.1 is out, see section 4.2 for details.",
    ],
)
def test_no_false_splits(text: str) -> None:
    for step in (1, 2, None):
        assert split(text, step=step) == [text], f"split wrongly with step {step}"


def test_sentence_after_closing_quote_and_bracket() -> None:
    assert split('She said "yes." Then she left. (It was late.) Bye.') == [
        'She said "yes."',
        "Then she left.",
        "(It was late.)",
        "Bye.",
    ]


def test_numbered_and_bulleted_lists_on_lines() -> None:
    text = "Here is the list:\n1. Eggs\n2. Milk\n\n- Flour\n- Sugar\nThat's all."
    assert split(text) == ["Here is the list:", "1. Eggs", "2. Milk", "- Flour", "- Sugar", "That's all."]


def test_a_sentence_is_only_given_once_the_next_character_is_known() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It is Dr.") == []
    assert splitter.feed(" Smith. He") == ["It is Dr. Smith."]
    assert splitter.feed(" is here") == []
    assert splitter.flush() == ["He is here"]
    assert splitter.flush() == []


def test_first_sentence_comes_out_before_the_text_ends() -> None:
    splitter = SentenceSplitter()
    got = []
    for delta in ["The capital", " of France is", " Paris.", " It is", " known for"]:
        got.append(splitter.feed(delta))
    assert got == [[], [], [], ["The capital of France is Paris."], []]


def test_long_sentence_is_cut_at_a_clause() -> None:
    clause = "the weather today is mild with a light breeze from the west"
    text = ", ".join([clause] * 5) + "."
    pieces = split(text, step=4)
    assert len(pieces) >= 2
    assert all(len(p) <= 200 + len(clause) for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces)
    assert " ".join(pieces) == text


def test_long_text_without_punctuation_is_cut_at_a_space() -> None:
    text = " ".join(["word"] * 120)
    pieces = split(text, step=5)
    assert len(pieces) >= 2
    assert all(len(p) <= 320 for p in pieces)
    assert " ".join(pieces) == text


def test_commas_in_numbers_are_not_clause_boundaries() -> None:
    text = "It costs 1,000,000 dollars " + "and then some more " * 12 + "in total."
    assert all(not p.endswith("1,") for p in split(text, max_chars=40, min_clause_chars=10))


def test_ellipsis_at_the_end_and_question_marks() -> None:
    assert split("Hmm... I wonder?! Yes.") == ["Hmm... I wonder?!", "Yes."]
    assert split("Let me think...") == ["Let me think..."]


def test_reset_drops_the_buffer() -> None:
    splitter = SentenceSplitter()
    splitter.feed("Half a sen")
    splitter.reset()
    assert splitter.flush() == []
