"""Answer extraction and metric choice: pure functions, no model."""

from __future__ import annotations

import pytest

from clearft.answers import (
    choose_metric,
    extract_choice,
    extract_json,
    extract_label,
    extract_number,
    normalize_number,
    normalize_text,
    parse_options,
    token_f1,
)
from clearft.evaluation.metrics import score_prediction

OPTIONS = ["negative", "neutral", "positive"]


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("B", "B"),
        ("B.", "B"),
        ("answer: B", "B"),
        ("The answer is B", "B"),
        ("The correct answer is option C because sales grew.", "C"),
        ("(A) negative", "A"),
        ("explanation: profits fell, so it is bad.\nanswer: A", "A"),
        ("**C**", "C"),
        ("positive", "C"),  # the option text itself
        ("The sentiment of this sentence is neutral.", "B"),
        ("```\nB\n```", "B"),
    ],
)
def test_extract_choice_reads_letters_from_prose(reply: str, expected: str) -> None:
    assert extract_choice(reply, OPTIONS) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "I am not sure.",
        "A positive and a negative reading are both possible",  # two options, and "A" is an article
        "answer is a hard one",  # lower-case "a" is not option A
        "",
    ],
)
def test_extract_choice_gives_none_rather_than_guessing(reply: str) -> None:
    assert extract_choice(reply, OPTIONS) is None


def test_extract_choice_ignores_letters_beyond_the_options() -> None:
    assert extract_choice("answer: D", OPTIONS) is None
    assert extract_choice("answer: D", None, n_choices=4) == "D"


def test_parse_options_accepts_lists_and_json_strings() -> None:
    assert parse_options('["a", "b"]') == ["a", "b"]
    assert parse_options(["a", 2]) == ["a", "2"]
    assert parse_options("not a list") is None
    assert parse_options("[broken") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She makes 9 * 2 = $18 every day.\n#### 18", "18"),
        ("#### 1,000", "1000"),
        ("The answer is $18.00.", "18"),
        ("first 3, then 4.5", "4.5"),
        ("answer: -7", "-7"),
        ("no number here", None),
    ],
)
def test_extract_number(text: str, expected: str | None) -> None:
    assert extract_number(text) == expected


def test_normalize_number() -> None:
    assert normalize_number("1,234.50") == "1234.5"
    assert normalize_number("abc") is None


def test_extract_json_tolerates_fences_and_prose() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Here you go: {"a": [1, 2]} hope it helps') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        extract_json("{'a': 1}")


def test_extract_label_from_prose_and_ambiguity() -> None:
    labels = ["card_arrival", "card_linking", "lost_or_stolen_card"]
    assert extract_label("The intent is card_arrival.", labels) == "card_arrival"
    assert extract_label("card arrival", labels) == "card_arrival"
    assert extract_label("intent: lost_or_stolen_card", labels) == "lost_or_stolen_card"
    assert extract_label("card_arrival or card_linking", labels) is None


def test_text_normalisation_and_f1() -> None:
    assert normalize_text("The  Cat, sat!") == "cat sat"
    assert token_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0
    assert token_f1("dog", "cat") == 0.0


@pytest.mark.parametrize(
    "targets, metric",
    [
        (["A", "C", "B"], "choice"),
        (["so 2 + 2 = 4\n#### 4", "#### 10"], "gsm8k"),
        (["4", "10.5", "-3"], "number"),
        (['{"name": "x"}', "[1, 2]"], "json"),
        (["positive", "negative", "positive", "neutral", "negative", "positive"], "label"),
        (["Paris is the capital of France.", "It was built in 1889 by Eiffel."], "text"),
        ([], "text"),
    ],
)
def test_choose_metric(targets: list[str], metric: str) -> None:
    assert choose_metric(targets) == metric


def test_score_prediction_per_metric() -> None:
    assert score_prediction("choice", "The answer is C", "C", options=OPTIONS).score == 1.0
    assert score_prediction("choice", "neutral", "C", options=OPTIONS).score == 0.0
    assert score_prediction("gsm8k", "so #### 18", "work\n#### 18").score == 1.0
    assert score_prediction("gsm8k", "17", "#### 18").score == 0.0
    assert score_prediction("number", "It is 4.0", "4").score == 1.0
    js = score_prediction("json", '{"a": 2}', '{"a": 1}')
    assert (js.score, js.extras["json_exact"]) == (1.0, 0.0)
    assert score_prediction("json", "not json", '{"a": 1}').score == 0.0
    text = score_prediction("text", "the Eiffel Tower", "Eiffel tower!")
    assert text.score == 1.0 and text.extras["f1"] == 1.0
    assert score_prediction("label", "Sentiment: negative", "negative",
                            labels=["negative", "positive"]).score == 1.0
    with pytest.raises(ValueError):
        score_prediction("bleu", "x", "y")
