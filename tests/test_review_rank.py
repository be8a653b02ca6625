"""The review queue's ranking (clearft.review.rank): pure functions over records."""

from __future__ import annotations

import json

import pytest

from clearft.review.rank import gain, rank_rows


def evidence_row(conf: float, labels: list[str], p: float, replaced: bool = False) -> dict:
    views = {f"v{i}": {"label": lab, "prob": 0.5} for i, lab in enumerate(labels)}
    return {"confidence": conf, "clearft_correction": {"judge": "evidence", "candidate": labels[0],
                                                       "replaced": replaced, "confidence": p, "views": views}}


def test_replaced_rows_need_no_review() -> None:
    assert gain(evidence_row(0.1, ["a", "a"], 0.9, replaced=True)) is None
    assert rank_rows([evidence_row(0.1, ["a", "a"], 0.9, replaced=True)], 5) == []


def test_gain_is_the_mean_of_doubt_and_the_corrections_doubt_about_the_target() -> None:
    # doubt 0.8; the candidate "a" is another answer than the target at p 0.7: the target is
    # wrong at least as often (0.7)
    assert gain(evidence_row(0.2, ["a", "b"], 0.7), target="t") == pytest.approx((0.8 + 0.7) / 2)
    # the candidate is the target, at p 0.9: the evidence backs it, doubt about it 0.1
    assert gain(evidence_row(0.2, ["t", "t"], 0.9), target="t") == pytest.approx((0.8 + 0.1) / 2)
    # target unknown to the caller: the correction's reason says whether the candidate is it
    row = evidence_row(0.2, ["t", "t"], 0.9)
    row["clearft_correction"]["reason"] = "evidence_supports_target"
    assert gain(row) == pytest.approx((0.8 + 0.1) / 2)
    row["clearft_correction"]["reason"] = "evidence_not_confident"
    assert gain(row) == pytest.approx((0.8 + 0.9) / 2)


def test_estimator_doubt_is_one_minus_the_targets_probability() -> None:
    row = {"confidence": 0.4, "clearft_correction": {"judge": "estimator", "candidate": "x", "replaced": False,
                                                     "candidate_confidence": 0.7, "target_confidence": 0.6,
                                                     "sample_answers": ["1", "1", "2", "2"]}}
    assert gain(row) == pytest.approx((0.6 + 0.4) / 2)


def test_a_likely_wrong_target_outranks_a_close_call() -> None:
    """The ranking finds wrong labels: a candidate at 0.79 against the target (refused at
    eta 0.8) beats a coin toss, which beats a target the evidence backs."""
    rows = [evidence_row(0.5, ["t"], 0.9), evidence_row(0.5, ["a"], 0.5), evidence_row(0.5, ["a"], 0.79)]
    assert [i for i, _ in rank_rows(rows, 3, ["t", "t", "t"])] == [2, 1, 0]


def test_rows_without_a_verdict_rank_by_doubt_halved_and_csv_text_is_read() -> None:
    assert gain({"confidence": 0.0}) == 0.5
    assert gain({"confidence": ""}) == 0.25  # unscored
    csv_row = {"confidence": "0.2", "clearft_correction": json.dumps(evidence_row(0.2, ["a", "b"], 0.6)["clearft_correction"])}
    assert gain(csv_row) == pytest.approx(gain(evidence_row(0.2, ["a", "b"], 0.6)))


def test_rank_orders_by_gain_then_input_order_and_limits() -> None:
    rows = [
        evidence_row(0.9, ["a", "a"], 0.05),  # settled: the target is fine
        evidence_row(0.1, ["a", "b"], 0.7),  # most worth a look
        evidence_row(0.1, ["a", "b"], 0.7),  # tie: later
        evidence_row(0.1, ["a", "b"], 0.7, replaced=True),
        {"confidence": 0.3},
    ]
    ranked = rank_rows(rows, 3)
    assert [i for i, _ in ranked] == [1, 2, 4]
    assert ranked[0][1] >= ranked[1][1] >= ranked[2][1]
    assert [i for i, _ in rank_rows(rows, 10)] == [1, 2, 4, 0]
    with pytest.raises(ValueError):
        rank_rows(rows, 0)
