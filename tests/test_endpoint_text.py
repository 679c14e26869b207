"""The transcript's second opinion on the end of a turn: does the text so far stop where no sentence ends?"""

from __future__ import annotations

import pytest

from appliance.listening.endpoint.text import reads_unfinished


@pytest.mark.parametrize(
    "text",
    [
        "What is the weather like in",
        "What is the weather like in.",  # transcribers punctuate what they are given
        "Can you set a timer for",
        "What is the capital of",
        "Turn off the",
        "Play something by the Beatles and",
        "I want to know whether, um",
        "Remind me to call my mother,",
        "What is the weather like in...",
        "Set an alarm for seven \u2014",
        "Is it going to rain tomorrow or",
    ],
)
def test_a_question_cut_short_reads_unfinished(text):
    assert reads_unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the weather like in Paris today?",
        "What is the weather like?",
        "What is the weather like",  # can be a whole question: the turn model keeps its say
        "Where are you from?",  # a preposition can end a question
        "What is it for?",
        "Remind me to call her.",
        "Turn off the lights",
        "Tell me a joke.",
        "",
        "   ",
        "42",
    ],
)
def test_a_finished_or_possibly_finished_question_does_not(text):
    assert not reads_unfinished(text)
