"""BSDetector's math (SPEC section 1), as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearft.scoring import bsdetector as bd

unit = st.floats(min_value=0.0, max_value=1.0)


def test_observed_consistency_matches_the_paper_formula() -> None:
    # o_i = alpha * s_i + (1 - alpha) * r_i, O = mean
    o = bd.observed_consistency([1.0, 0.5, 0.0], [True, False, False], alpha=0.8)
    assert o == pytest.approx(((0.8 + 0.2) + 0.4 + 0.0) / 3)


def test_observed_consistency_of_nothing_is_none() -> None:
    assert bd.observed_consistency([], [], alpha=0.8) is None
    with pytest.raises(ValueError):
        bd.observed_consistency([1.0], [], alpha=0.8)


def test_verdict_certainty_letters_and_probabilities() -> None:
    assert bd.verdict_certainty("A") == 1.0
    assert bd.verdict_certainty("B") == 0.0
    assert bd.verdict_certainty("C") == 0.5
    assert bd.verdict_certainty("unknown") is None
    assert bd.verdict_certainty(None, {"A": 0.5, "B": 0.25, "C": 0.25}) == pytest.approx(0.625)
    # probabilities win over the argmax letter
    assert bd.verdict_certainty("A", {"A": 0.4, "B": 0.6, "C": 0.0}) == pytest.approx(0.4)


def test_reflection_certainty_ignores_unknown_rounds() -> None:
    assert bd.reflection_certainty([1.0, None]) == 1.0
    assert bd.reflection_certainty([None, None]) is None
    assert bd.reflection_certainty([1.0, 0.0]) == 0.5


def test_combine_default_weights() -> None:
    # 0.7 * O + 0.3 * S
    assert bd.combine(1.0, 0.0, 0.7) == pytest.approx(0.7)
    assert bd.combine(None, 0.4, 0.7) == 0.4
    assert bd.combine(0.9, None, 0.7) == 0.9
    assert bd.combine(None, None, 0.7) is None
    assert bd.combine(0.9, 0.1, 1.0) == 0.9
    assert bd.combine(0.9, 0.1, 0.0) == 0.1


@given(st.lists(st.tuples(unit, st.booleans()), min_size=1, max_size=10), unit, unit, unit)
def test_confidence_stays_in_unit_interval(samples: list[tuple[float, bool]], alpha: float, beta: float, s: float) -> None:
    o = bd.observed_consistency([x for x, _ in samples], [r for _, r in samples], alpha)
    c = bd.combine(o, s, beta)
    # a weighted mean of its two parts: between them, hence in [0, 1]
    assert o is not None and c is not None
    assert min(o, s) - 1e-12 <= c <= max(o, s) + 1e-12
    assert -1e-12 <= c <= 1 + 1e-12
