"""Parsing model output: a failed parse is None (then "unknown"), never a guessed verdict."""

from __future__ import annotations

import math

import pytest

from clearft.scoring import parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("explanation: it rose, answer: C", "C"),
        ("Explanation: x\nAnswer: [positive]", "positive"),
        ("answer: **42**.", "42"),
        ("```\nexplanation: a\nanswer: B\n```", "B"),
        ("first answer: A then answer: B", "B"),
        ("answer: C\n\nSome trailing prose", "C"),
        ("answer: C, explanation: because", "C"),
        ("no template at all", None),
        ("answer:   ", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert parsing.extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("explanation: fine. answer: A", "A"),
        ("answer: (B) Incorrect", "B"),
        ("answer: **C** I am not sure", "C"),
        ("Answer: [a]", "A"),
        ("```json\nanswer: B\n```", "B"),
        ("answer: D", None),  # wrong letter
        ("answer: Correct", None),  # a word is not a letter
        ("I think the proposed answer is correct (A).", None),  # prose without the template
        ("(A)", "A"),  # nothing but a letter
        (" [b].", "B"),
        ("(D)", None),
        ("Demonstrated [B].", None),  # a letter inside prose is not a verdict
        ("", None),
    ],
)
def test_parse_choice(text: str, expected: str | None) -> None:
    assert parsing.parse_choice(text) == expected


def test_parse_rating_bounds() -> None:
    assert parsing.parse_rating("rating: 4, explanation: ok") == 4
    assert parsing.parse_rating("Rating: [5]") == 5
    assert parsing.parse_rating("rating: 9") is None
    assert parsing.parse_rating("four") is None


def test_choice_probabilities_sums_variants_and_renormalises() -> None:
    lps = {" A": math.log(0.3), "A": math.log(0.1), "(B": math.log(0.2), "c": math.log(0.2), "The": math.log(0.2)}
    probs = parsing.choice_probabilities(lps)
    assert probs is not None
    assert probs["A"] == pytest.approx(0.4 / 0.8)
    assert probs["B"] == pytest.approx(0.2 / 0.8)
    assert probs["C"] == pytest.approx(0.2 / 0.8)


def test_choice_probabilities_without_letters_is_unknown() -> None:
    assert parsing.choice_probabilities({"The": -0.01, "I": -5.0}) is None
    assert parsing.choice_probabilities(None) is None
    assert parsing.choice_probabilities({}) is None


def test_sample_answer_falls_back_to_first_line_visibly() -> None:
    assert parsing.extract_sample_answer("explanation: x answer: B") == ("B", "answer:")
    assert parsing.extract_sample_answer("\nC. positive\nmore text") == ("C. positive", "first line")
    assert parsing.extract_sample_answer("   \n ") is None


@pytest.mark.parametrize(
    ("answer", "target", "match"),
    [
        ("C", "C", True),
        ("c.", "C", True),
        ("C. positive", "C", True),
        ("B. positive", "C", False),
        ("The Eiffel Tower", "eiffel tower", True),
        ("A", "", False),
        ("72 clips", "The answer is 72", False),
    ],
)
def test_answers_match(answer: str, target: str, match: bool) -> None:
    assert parsing.answers_match(answer, target) is match


def test_normalize_keeps_a_lone_choice_letter() -> None:
    assert parsing.normalize_answer("A") == "a"
    assert parsing.normalize_answer("A cat!") == "cat"


def test_explanation_after_letter() -> None:
    assert parsing.explanation_after_letter("B, explanation: it fell") == "it fell"
    assert parsing.explanation_after_letter("A) because it rose") == "because it rose"
