"""number_or_none: one reading of a stored number for the filter, Auto-Correct and the review."""

from __future__ import annotations

import math

from clearft.data.cells import number_or_none


def test_numbers_come_back_from_every_file_type() -> None:
    assert number_or_none(0.25) == 0.25
    assert number_or_none("0.25") == 0.25  # CSV
    assert number_or_none(1) == 1.0


def test_missing_or_broken_cells_are_none_not_errors() -> None:
    for cell in (None, "", "n/a", [], True, math.nan, "nan", math.inf, "-inf"):
        assert number_or_none(cell) is None, cell
