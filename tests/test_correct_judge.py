"""Auto-Correct judge: prompts, parsing, both-order aggregation, the eta rule (fake backend)."""

from __future__ import annotations

import math
import re

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.correction import CorrectConfig, Pair, judge_pairs
from clearft.correction import verdicts as v
from clearft.correction.parsing import UNKNOWN, letter_probs, parse_explanation, parse_letter
from clearft.correction.prompts import (
    CANDIDATE_FIRST,
    ORIGINAL_FIRST,
    judge_messages,
    reflection_messages,
)


# --- prompts ------------------------------------------------------------------------------
def test_judge_prompt_shows_both_orders_and_the_template():
    first = judge_messages("Q?", "orig", "cand", ORIGINAL_FIRST)[0]["content"]
    second = judge_messages("Q?", "orig", "cand", CANDIDATE_FIRST)[0]["content"]
    assert "Response (A): orig\nResponse (B): cand" in first
    assert "Response (A): cand\nResponse (B): orig" in second
    for text in (first, second):
        assert text.startswith("Question: Q?")
        assert "Which response is better? (A) Response A (B) Response B (C) I am not sure." in text
        assert "answer: [choose one letter from among choices A through C]" in text


def test_reflection_prompt_names_the_candidate_letter_of_each_order():
    assert "Response (B) is better" in reflection_messages("Q", "o", "c", ORIGINAL_FIRST)[0]["content"]
    assert "Response (A) is better" in reflection_messages("Q", "o", "c", CANDIDATE_FIRST)[0]["content"]


# --- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("explanation: the second is right, answer: B", "B"),
        ("explanation: x\nanswer: (A)", "A"),
        ("```\nexplanation: fine\nanswer: C\n```", "C"),
        ("```json\nanswer: b\n```", "B"),
        ("B", "B"),
        ("(A).", "A"),
        ("The answer is A because it is correct.", "A"),
        ("answer: Response (B) is better", "B"),
        ("answer: I'm not sure", "C"),  # choice (C) spelled out
        ("answer: D", UNKNOWN),  # a letter that is not a choice
        ("answer: Because both are fine", UNKNOWN),  # a word, not a letter
        ("Both responses look reasonable to me.", UNKNOWN),  # prose without a verdict
        ("A response should be concise.", UNKNOWN),  # the article "A" is no verdict
        ("", UNKNOWN),
        ("explanation: cut off before the ans", UNKNOWN),
    ],
)
def test_parse_letter(text, letter):
    assert parse_letter(text) == letter


def test_parse_explanation_takes_the_text_between_the_markers():
    assert parse_explanation("explanation: B names the right label, answer: B") == "B names the right label"


def test_letter_probs_pools_token_variants_and_renormalises():
    probs = letter_probs({" A": math.log(0.2), "A": math.log(0.1), "(B": math.log(0.3), "the": math.log(0.4)})
    assert probs is not None
    assert probs["A"] == pytest.approx(0.5)
    assert probs["B"] == pytest.approx(0.5)
    assert probs["C"] == 0.0
    assert letter_probs({"the": 0.0}) is None  # no mass on any letter: no verdict
    assert letter_probs(None) is None


# --- math ---------------------------------------------------------------------------------
def test_sides_swap_with_the_order():
    assert v.side_of("B", ORIGINAL_FIRST) == v.CANDIDATE
    assert v.side_of("A", ORIGINAL_FIRST) == v.ORIGINAL
    assert v.side_of("A", CANDIDATE_FIRST) == v.CANDIDATE
    assert v.side_of("C", CANDIDATE_FIRST) == v.UNSURE
    assert v.side_of(UNKNOWN, CANDIDATE_FIRST) == UNKNOWN


def test_consistency_ignores_unknown_samples_instead_of_counting_them():
    assert v.consistency([v.CANDIDATE, v.ORIGINAL, UNKNOWN, UNKNOWN]) == 0.5
    assert v.consistency([UNKNOWN]) is None


def test_decide_needs_preference_and_confidence_above_eta():
    assert v.decide(0.9, 0.81, 0.8) == v.REPLACED
    assert v.decide(0.9, 0.8, 0.8) == v.NOT_CONFIDENT  # strictly above eta
    assert v.decide(0.5, 0.99, 0.8) == v.PREFERS_ORIGINAL  # a tie is no preference
    assert v.decide(None, 0.99, 0.8) == v.JUDGE_UNKNOWN
    assert v.decide(0.9, None, 0.8) == v.JUDGE_UNKNOWN


# --- judge_pairs with scripted judges ------------------------------------------------------
_PAIR = re.compile(r"Response \(A\): (.*)\nResponse \(B\): (.*)\n")


def letter_for(req: GenerateRequest, text: str) -> str:
    a, b = _PAIR.search(req.messages[-1]["content"]).groups()
    return "A" if a == text else "B"


def candidate_judge(candidate: str, logprobs: bool = True) -> FakeBackend:
    """A judge that always prefers `candidate` and is sure of its judgment."""

    def reply(req: GenerateRequest, i: int) -> str:
        if "Proposed judgment" in req.messages[-1]["content"]:
            return "A" if req.assistant_prefix else "explanation: yes, answer: A"
        letter = letter_for(req, candidate)
        return letter if req.assistant_prefix else f"explanation: it is right, answer: {letter}"

    return FakeBackend(responder=reply, logprobs=logprobs)


def test_a_judge_that_prefers_the_candidate_in_both_orders_is_confident():
    judge = candidate_judge("positive")
    [res] = judge_pairs([Pair("Q", "negative", "positive")], judge, CorrectConfig())
    assert res.preference == 1.0
    assert res.consistency == 1.0
    assert res.reflection == 1.0
    assert res.confidence == pytest.approx(1.0)
    assert [d["verdict"] for d in res.verdicts] == [v.CANDIDATE, v.CANDIDATE]
    assert "it is right" in res.explanation


def test_position_bias_cancels_out():
    always_a = FakeBackend(responder=lambda req, i: "A" if req.assistant_prefix else "answer: A")
    [res] = judge_pairs([Pair("Q", "negative", "positive")], always_a, CorrectConfig())
    assert res.preference == 0.5  # A is the original once and the candidate once
    assert res.consistency == 0.5
    assert v.decide(res.preference, res.confidence, 0.8) != v.REPLACED


def test_letter_probabilities_drive_the_verdict_when_the_backend_has_them():
    def probs(req: GenerateRequest) -> dict[str, float]:
        if "Proposed judgment" in req.messages[-1]["content"]:
            return {"A": math.log(0.6), "B": math.log(0.2), "C": math.log(0.2)}
        cand = letter_for(req, "pos")
        other = "B" if cand == "A" else "A"
        return {cand: math.log(0.9), other: math.log(0.1)}

    judge = FakeBackend(responder=lambda req, i: "zzz", choice_logprobs=probs)
    cfg = CorrectConfig(samples=0, explain=False)
    [res] = judge_pairs([Pair("Q", "neg", "pos")], judge, cfg)
    assert res.preference == pytest.approx(0.9)
    assert res.reflection == pytest.approx(0.7)  # 0.6 * 1 + 0.2 * 0.5
    assert res.consistency is None and res.confidence == pytest.approx(0.7)


def test_unparsable_replies_are_unknown_never_a_verdict():
    judge = FakeBackend(responder=lambda req, i: "I would rather not say.", logprobs=False)
    [res] = judge_pairs([Pair("Q", "neg", "pos")], judge, CorrectConfig())
    assert res.preference is None and res.confidence is None
    assert res.unknown == 2 + 2 * 3 + 2  # two verdicts, six samples, two reflections
    assert v.decide(res.preference, res.confidence, 0.8) == v.JUDGE_UNKNOWN


def test_without_logprobs_the_judge_reads_generated_letters():
    judge = candidate_judge("pos", logprobs=False)
    [res] = judge_pairs([Pair("Q", "neg", "pos")], judge, CorrectConfig())
    assert not any(isinstance(c, GenerateRequest) and c.top_logprobs for c in judge.calls)
    assert res.preference == 1.0 and res.confidence == pytest.approx(1.0)


def test_failed_calls_are_recorded_and_count_as_unknown():
    judge = FakeBackend(fail_when=lambda req: True)
    [res] = judge_pairs([Pair("Q", "neg", "pos")], judge, CorrectConfig())
    assert res.confidence is None
    assert res.errors and "scripted failure" in res.errors[0]


def test_results_do_not_depend_on_the_batch_size():
    pairs = [Pair(f"Q{i}", "neg", "pos" if i % 2 else "neu") for i in range(7)]
    a = judge_pairs(pairs, candidate_judge("pos"), CorrectConfig(batch_size=1))
    b = judge_pairs(pairs, candidate_judge("pos"), CorrectConfig(batch_size=5))
    assert [r.confidence for r in a] == [r.confidence for r in b]
    assert [r.verdicts for r in a] == [r.verdicts for r in b]


def test_one_generate_call_per_batch():
    judge = candidate_judge("pos")
    calls = []
    original = judge.generate
    judge.generate = lambda reqs: calls.append(len(reqs)) or original(reqs)  # type: ignore[method-assign]
    judge_pairs([Pair(f"Q{i}", "neg", "pos") for i in range(10)], judge, CorrectConfig(batch_size=4))
    assert len(calls) == 3
