"""Reading a number back from a cell as stored: a float in JSONL and Parquet, text in CSV."""

from __future__ import annotations

import math
from typing import Any


def number_or_none(value: Any) -> float | None:
    """The cell as a finite float; None when empty, not a number, a bool, NaN or infinite."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
