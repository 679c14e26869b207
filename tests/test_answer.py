"""Answer text: sentence mode and fragment mode give the same speech, fragments never split a word, the cap
ends an answer at a sentence end. Pure: deltas in, pieces out."""

from __future__ import annotations

import random

import pytest

from appliance.llm.answer import Answer
from appliance.text.piece import Piece, Sentences

ANSWERS = [
    "Hello! The capital of France is **Paris**. See https://www.paris.fr/visit for more.",
    "1. Eggs\n2. Milk\n3. Bread\n\nThat's all you need. Dr. Smith said so, e.g. for pancakes.",
    "Here is code:\n```python\nprint('x')\n```\nDone now. Use `ls -la` to list [your files](http://a.b/c) ok.",
    "A very long sentence " + "with many words and clauses, " * 20 + "comes to its end here.",
    "Great 🎉 news , everyone ! Really… maybe. | a | b |\n| --- | --- |\n| 1 | 2 |\nBye _now_ my friend.",
    "# Weather\n\n> It is *quite* sunny in Oslo today, about 21 °C.\n- Wind: light\n- Rain: none\nEnjoy it!",
    "The U.S. economy grew 3.5 percent in 2024 (roughly). Prices rose ~2 percent; wages rose more.",
    "Call me at 555-0100 or mail <bob@example.com>. The site www.example.org has it. Thanks!",
    "Version 2.0 is out — it has <b>bold</b> new ideas... and a few fixes. Try it today, or wait.",
    "Well... I think so. Mr. and Mrs. Jones went to St. Ives at 3 p.m. on Jan. 5th. They liked it!",
    "Short.",
    "",
    "No punctuation at all just words flowing on and on without an end in sight",
]


def chunked(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 12)
        out.append(text[i : i + n])
        i += n
    return out


def run(chunks: list[str], *, fragments: bool, max_chars: int = 10_000, flush_at: int | None = None) -> list[Piece]:
    answer = Answer(fragments=fragments, max_chars=max_chars)
    out: list[Piece] = []
    for index, chunk in enumerate(chunks):
        out += answer.feed(chunk)
        if index == flush_at:
            out += answer.flush()  # a message ended there (a filler before tool calls)
    return out + answer.flush()


def texts(pieces: list[Piece]) -> list[str]:
    return [p.text for p in pieces]


@pytest.mark.parametrize("text", ANSWERS)
def test_fragments_put_together_are_what_sentence_mode_says(text: str) -> None:
    for seed in range(40):
        rng = random.Random(seed)
        chunks = chunked(text, rng)
        sentences = texts(run(chunks, fragments=False))
        fragments = run(chunks, fragments=True)
        assert "".join(texts(fragments)) == " ".join(sentences), (seed, chunks)
        assert all(isinstance(f, Piece) and f.text for f in fragments)
        if fragments:
            assert fragments[-1].sentence_end


@pytest.mark.parametrize("text", ANSWERS)
def test_fragments_end_their_sentences_where_sentence_mode_does(text: str) -> None:
    """Speech trusts the marks: the sentences the fragments mark are the sentences sentence mode gives (a long
    sentence cut at a clause after its words went out is cut a few words later, but cut)."""
    for seed in range(40):
        chunks = chunked(text, random.Random(seed))
        sentences = texts(run(chunks, fragments=False))
        assert all(p.sentence_end for p in run(chunks, fragments=False))
        marked = Sentences()
        heard = [s for p in run(chunks, fragments=True) if (s := marked.feed(p)) is not None]
        heard += [s for s in [marked.flush()] if s]
        if len(text) < 200:
            assert heard == sentences, (seed, chunks)
        else:
            assert len(heard) == len(sentences) and " ".join(heard) == " ".join(sentences), (seed, chunks)


@pytest.mark.parametrize("text", ANSWERS)
def test_fragments_never_split_a_word(text: str) -> None:
    for seed in range(40):
        fragments = texts(run(chunked(text, random.Random(seed)), fragments=True))
        whole = "".join(fragments)
        position = 0
        for fragment in fragments[:-1]:
            position += len(fragment)
            assert not (whole[position - 1].isalnum() and whole[position].isalnum()), (whole[:position], seed)


def test_fragments_come_before_the_sentence_ends() -> None:
    answer = Answer(fragments=True)
    assert answer.feed("The weather in Oslo") == [Piece("The weather in")]  # "Oslo" may go on ("Oslofjord")
    assert answer.feed(" is sunny") == [Piece(" Oslo is")]
    assert answer.feed(" and **war") == [Piece(" sunny and")]  # nothing after an unclosed markup character
    assert answer.feed("m** today. ") == []  # a sentence end is decided by what follows it
    [end] = answer.feed("Bring")
    assert end.text == " warm today." and end.sentence_end
    assert answer.flush() == [Piece(" Bring", sentence_end=True)]


def test_a_filler_flushed_before_tools_is_the_same_in_both_modes() -> None:
    chunks = ["Let me", " look", " that up", "Here", " it is: sunny."]
    assert "".join(texts(run(chunks, fragments=True, flush_at=2))) == " ".join(
        texts(run(chunks, fragments=False, flush_at=2))
    )


@pytest.mark.parametrize("fragments", [False, True])
def test_the_cap_ends_the_answer_at_a_sentence_end(fragments: bool) -> None:
    text = "This is one sentence of a long answer. " * 100
    answer = Answer(fragments=fragments, max_chars=300)
    out: list[Piece] = []
    for chunk in chunked(text, random.Random(1)):
        out += answer.feed(chunk)
        if answer.capped:
            break
    spoken = "".join(texts(out)) if fragments else " ".join(texts(out))
    assert answer.capped
    assert 300 <= len(spoken) < 300 + 40 and spoken.endswith("answer.")
    assert answer.feed("More. ") == [] and answer.flush() == []


def test_an_apology_after_fragments_is_a_sentence_of_its_own() -> None:
    answer = Answer(fragments=True)
    got = answer.feed("Sure, the answer is")
    [apology] = answer.apology("Sorry, I lost the connection.")
    assert "".join(texts(got)) == "Sure, the answer"
    assert apology.text == " Sorry, I lost the connection." and apology.sentence_end
