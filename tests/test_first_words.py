"""The first piece of speech: the answer's first words or first clause, never a split word, never past a
possible sentence end; after it, sentences as the assistant marked them (speech does not split again)."""

from __future__ import annotations

import random

import pytest

from appliance.llm.answer import Answer
from appliance.speech.first_words import FirstWordsSplitter
from appliance.speech.first_words import Utterance as Piece
from appliance.text.first_words import first_words_cut
from appliance.text.piece import Piece as Fragment
from appliance.text.sentences import SentenceSplitter


@pytest.mark.parametrize(
    "text,words,cut",
    [
        ("It is s", 2, 6),  # two whole words; "s" may be the start of "sunny"
        ("It is", 2, None),  # "is" may go on ("island")
        ("It ", 2, None),
        ("Sure, the", 4, 6),  # the first clause comes sooner than four words
        ("one – two three", 4, 6),  # a spaced dash is a clause too
        ("3,000 people are", 2, 13),  # a comma inside a number is not a clause
        ("At 10:30 we go", 2, 9),
        ("Yes sir. ", 2, None),  # a sentence may end here: the sentence splitter decides
        ("Dr. Smith is in", 2, None),
        ("Hello there\nand", 2, None),
        ("It is sunny", 0, None),  # 0: off
        ("It  is   sunny", 2, 9),  # all the whitespace after the word goes with it
    ],
)
def test_first_words_cut(text: str, words: int, cut: int | None) -> None:
    assert first_words_cut(text, words) == cut


class Assistant:
    """The model's text deltas as the assistant gives them to speech (fragments, sentence ends marked)."""

    def __init__(self, splitter: FirstWordsSplitter) -> None:
        self.answer = Answer(fragments=True)
        self.splitter = splitter

    def feed(self, delta: str) -> list[Piece]:
        return [u for fragment in self.answer.feed(delta) for u in self.splitter.feed(fragment)]

    def flush(self) -> list[Piece]:
        return [u for fragment in self.answer.flush() for u in self.splitter.feed(fragment)] + self.splitter.flush()


def feed(splitter: FirstWordsSplitter | Assistant, deltas: list[str]) -> list[Piece]:
    out: list[Piece] = []
    for delta in deltas:
        out += splitter.feed(delta)
    return out + splitter.flush()


def test_the_first_words_come_first_then_the_rest_of_the_sentence_then_sentences() -> None:
    fragments = ["It is ", "sunny in", " Paris ", "today.", " The high", " is twenty."]
    pieces = [Fragment(text, sentence_end=text.endswith(".")) for text in fragments]
    splitter = FirstWordsSplitter(2)
    assert splitter.feed(pieces[0]) == [Piece("It is")]  # from the very first fragment
    assert [u for p in pieces[1:] for u in splitter.feed(p)] + splitter.flush() == [
        Piece("sunny in Paris today.", ("It is sunny in Paris today.",)),
        Piece("The high is twenty.", ("The high is twenty.",)),  # later sentences are never cut
    ]


def test_off_gives_one_piece_per_sentence() -> None:
    assert feed(Assistant(FirstWordsSplitter(0)), ["It is sunny. ", "Go out."]) == [
        Piece("It is sunny.", ("It is sunny.",)),
        Piece("Go out.", ("Go out.",)),
    ]


def test_a_sentence_that_ends_with_the_first_words_is_an_empty_piece_naming_it() -> None:
    splitter = FirstWordsSplitter(2)
    assert splitter.feed(Fragment("Hi there ")) + splitter.flush() == [Piece("Hi there"), Piece("", ("Hi there",))]


def test_a_first_sentence_ending_before_the_words_is_spoken_whole() -> None:
    assert feed(Assistant(FirstWordsSplitter(3)), ["Yes. ", "It is fine."]) == [
        Piece("Yes.", ("Yes.",)),
        Piece("It is fine.", ("It is fine.",)),
    ]


ANSWERS = [
    "It is sunny in Paris today, with a light breeze. Take sunglasses if you go out. Enjoy it!",
    "Well, Dr. Smith said the U.S. economy grew 3.5 percent. That is good news.",
    "Sure: here it is\nThe next line. And a last one without an end",
    "Hmm... maybe. I think so!",
]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("words", [0, 1, 2, 5])
def test_pieces_say_every_sentence_once_in_order_for_any_chunking(answer: str, words: int) -> None:
    rng = random.Random(f"{answer}{words}")
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(answer)), rng.randint(1, 12)))
        deltas = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        reference = SentenceSplitter()
        sentences = [s for d in deltas for s in reference.feed(d)] + reference.flush()
        pieces = feed(Assistant(FirstWordsSplitter(words)), deltas)
        assert [s for p in pieces for s in p.sentences] == sentences
        assert " ".join(p.text for p in pieces if p.text).split() == " ".join(sentences).split()
        assert all(p.sentences for p in pieces[1:])  # only the first piece may end no sentence
        if pieces[0].sentences == ():
            first = sentences[0]
            head = pieces[0].text
            assert first == head or (first.startswith(head) and first[len(head)] == " ")  # whole words


def test_a_fragment_that_ends_its_sentence_is_not_cut() -> None:
    splitter = FirstWordsSplitter(2)
    said = splitter.feed(Fragment("Sorry, I couldn't finish that.", sentence_end=True)) + splitter.flush()
    assert said == [Piece("Sorry, I couldn't finish that.", ("Sorry, I couldn't finish that.",))]
