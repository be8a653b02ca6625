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


def test_gain_is_the_mean_of_doubt_disagreement_and_closeness() -> None:
    # doubt 0.8, disagreement 0.5 (one of two views off the majority), closeness 1 (p = 0.5)
    assert gain(evidence_row(0.2, ["a", "b"], 0.5)) == pytest.approx((0.8 + 0.5 + 1.0) / 3)
    # views agree, candidate settled at 0.95: only the doubt speaks for review
    assert gain(evidence_row(0.2, ["a", "a"], 0.95)) == pytest.approx((0.8 + 0.0 + 0.1) / 3)


def test_estimator_closeness_is_the_gap_between_candidate_and_target() -> None:
    row = {"confidence": 0.4, "clearft_correction": {"judge": "estimator", "candidate": "x", "replaced": False,
                                                     "candidate_confidence": 0.7, "target_confidence": 0.6,
                                                     "sample_answers": ["1", "1", "2", "2"]}}
    assert gain(row) == pytest.approx((0.6 + 0.5 + 0.9) / 3)


def test_rows_without_a_verdict_rank_by_doubt_halved_and_csv_text_is_read() -> None:
    assert gain({"confidence": 0.0}) == 0.5
    assert gain({"confidence": ""}) == 0.25  # unscored
    csv_row = {"confidence": "0.2", "clearft_correction": json.dumps(evidence_row(0.2, ["a", "b"], 0.5)["clearft_correction"])}
    assert gain(csv_row) == pytest.approx(gain(evidence_row(0.2, ["a", "b"], 0.5)))


def test_rank_orders_by_gain_then_input_order_and_limits() -> None:
    rows = [
        evidence_row(0.9, ["a", "a"], 0.95),  # settled
        evidence_row(0.1, ["a", "b"], 0.5),  # most worth a look
        evidence_row(0.1, ["a", "b"], 0.5),  # tie: later
        evidence_row(0.1, ["a", "b"], 0.5, replaced=True),
        {"confidence": 0.3},
    ]
    ranked = rank_rows(rows, 3)
    assert [i for i, _ in ranked] == [1, 2, 4]
    assert ranked[0][1] >= ranked[1][1] >= ranked[2][1]
    assert [i for i, _ in rank_rows(rows, 10)] == [1, 2, 4, 0]
    with pytest.raises(ValueError):
        rank_rows(rows, 0)
