"""Which rows a reviewer should see first: pure functions over records, no I/O.

A row is worth reviewing when the machine is unsure of its target and did not confidently
fix it (a replaced row is done; a row nobody doubted is fine). Its expected gain, in [0, 1],
is the mean of three signals, each in [0, 1], high = a person's answer is worth more:

- doubt: 1 - the row's confidence (0.5 when it was not scored);
- disagreement: the share of the correction's views that do not name the majority label
  (evidence judge), or of the samples that do not reach the majority answer (estimator);
- closeness: how near the call between candidate and target was: 1 - |P(candidate) -
  P(target)| where both are known (estimator), else 1 - |2 P(candidate) - 1| (evidence
  judge: a label at 0.5 is a coin toss, at 0.95 or 0.05 it is settled).

A row without a correction verdict has no disagreement or closeness; its gain is its doubt
alone, halved for lack of a candidate (a person then has to write the answer).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def correction_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The clearft_correction column as a dict (CSV stores it as JSON text), else None."""
    value = record.get("clearft_correction")
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def is_replaced(record: Mapping[str, Any]) -> bool:
    c = correction_of(record)
    return bool(c and c.get("replaced") is True)


def _disagreement(c: Mapping[str, Any]) -> float | None:
    views = c.get("views")
    labels: list[str] = []
    if isinstance(views, dict):
        labels = [str(v.get("label")) for v in views.values() if isinstance(v, dict) and v.get("label") is not None]
    if not labels and isinstance(c.get("sample_answers"), list):
        labels = [str(a) for a in c["sample_answers"] if a is not None]
    if len(labels) < 2:
        return None
    top = Counter(labels).most_common(1)[0][1]
    return 1.0 - top / len(labels)


def _closeness(c: Mapping[str, Any]) -> float | None:
    cand = number(c.get("candidate_confidence"))
    target = number(c.get("target_confidence"))
    if cand is not None and target is not None:
        return 1.0 - min(1.0, abs(cand - target))
    p = number(c.get("confidence"))
    if p is None:
        p = number(c.get("judge_confidence"))
    if p is None:
        return None
    p = min(1.0, max(0.0, p))
    return 1.0 - abs(2.0 * p - 1.0)


def gain(record: Mapping[str, Any]) -> float | None:
    """The row's expected gain from review in [0, 1]; None when it needs none (replaced)."""
    if is_replaced(record):
        return None
    conf = number(record.get("confidence"))
    doubt = 0.5 if conf is None else 1.0 - min(1.0, max(0.0, conf))
    c = correction_of(record)
    if c is None:
        return doubt / 2.0
    signals = [doubt] + [s for s in (_disagreement(c), _closeness(c)) if s is not None]
    return sum(signals) / len(signals)


def rank_rows(records: Sequence[Mapping[str, Any]], limit: int) -> list[tuple[int, float]]:
    """(index, gain) of the `limit` rows worth most, highest gain first; ties by input order.
    Replaced rows never appear."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    scored = [(i, g) for i, r in enumerate(records) if (g := gain(r)) is not None]
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:limit]
