"""Which rows a reviewer should see first: pure functions over records, no I/O.

A row is worth reviewing when its target is probably wrong and the machine did not fix it (a
replaced row is done). Its expected gain, in [0, 1], is the estimated probability that the
target is wrong: the mean of the two estimates a row can have,

- doubt: 1 - the row's confidence (from scoring);
- the correction's doubt: 1 - P(target) where the correction measured the target
  (estimator: target_confidence); else from the probability p of its candidate (evidence or
  llm judge): 1 - p when the candidate is the target (the evidence backs it), p when it is
  another answer (the target is wrong at least as often as that one is right).

A row with neither counts 0.5; a row without a correction verdict counts its doubt alone,
halved for lack of a candidate (a person then has to write the answer).

Measured on FPB-30 (bench/results/review.md): ranked by this, the top 100 of the 1390 rows
Auto-Correct left hold 85 wrong labels (random: 23); an earlier gain that also averaged how
close the call was and how much the views disagreed found 31, no better than random, because
close calls are as often right as wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from clearft.data.cells import number_or_none


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


def _target_doubt(c: Mapping[str, Any], target: str | None) -> float | None:
    """The correction's estimate that the target is wrong, or None."""
    t = number_or_none(c.get("target_confidence"))
    if t is not None:
        return 1.0 - min(1.0, max(0.0, t))
    p = number_or_none(c.get("confidence"))
    if p is None:
        p = number_or_none(c.get("judge_confidence"))
    if p is None:
        return None
    p = min(1.0, max(0.0, p))
    candidate = c.get("candidate")
    backs_target = (candidate == target) if target is not None and candidate is not None else (
        c.get("reason") == "evidence_supports_target")
    return 1.0 - p if backs_target else p


def gain(record: Mapping[str, Any], target: str | None = None) -> float | None:
    """The row's expected gain from review in [0, 1] (the estimated probability that its
    target is wrong); None when it needs none (replaced). `target`: the row's target text,
    when the caller knows it (else the correction's reason says whether its candidate is it)."""
    if is_replaced(record):
        return None
    conf = number_or_none(record.get("confidence"))
    doubt = None if conf is None else 1.0 - min(1.0, max(0.0, conf))
    c = correction_of(record)
    if c is None:
        return (0.5 if doubt is None else doubt) / 2.0
    signals = [s for s in (doubt, _target_doubt(c, target)) if s is not None]
    return sum(signals) / len(signals) if signals else 0.5


def rank_rows(records: Sequence[Mapping[str, Any]], limit: int,
              targets: Sequence[str | None] | None = None) -> list[tuple[int, float]]:
    """(index, gain) of the `limit` rows worth most, highest gain first; ties by input order.
    Replaced rows never appear. `targets`: each record's target text, where known."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    targets = targets if targets is not None else [None] * len(records)
    scored = [(i, g) for i, (r, t) in enumerate(zip(records, targets, strict=True)) if (g := gain(r, t)) is not None]
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:limit]
