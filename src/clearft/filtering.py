"""Auto-Filter (CLEAR step 2): keep the rows whose confidence clears a threshold.

The threshold comes from, in order: an explicit ``threshold``; a ``fraction`` to drop (the
paper drops the lower half: 0.5); else an automatic cut (``choose_threshold``). Dropped
rows go to a side file with their scores and a reason; the summary counts them per reason,
rows that failed scoring included.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearft.data.cells import number_or_none
from clearft.errors import ClearftError, DataError

REASON_LOW = "low confidence"
REASON_FAILED = "scoring failed"
REASON_MISSING = "no confidence column"


def otsu_threshold(scores: Sequence[float]) -> float:
    """The cut that splits the scores into two groups with the largest between-group
    variance (Otsu 1979): on scores with a low mode (bad rows) and a high mode (good rows)
    it falls in the gap between them. Rows with score < cut are dropped."""
    xs = sorted(scores)
    n = len(xs)
    if n < 2 or xs[0] == xs[-1]:
        return -math.inf  # nothing to separate: drop nothing
    total = sum(xs)
    best_gain, best_cut = -1.0, xs[0]
    left_sum = 0.0
    for i in range(1, n):
        left_sum += xs[i - 1]
        if xs[i] == xs[i - 1]:
            continue  # a cut must fall between distinct values
        w0, w1 = i / n, (n - i) / n
        m0, m1 = left_sum / i, (total - left_sum) / (n - i)
        gain = w0 * w1 * (m0 - m1) ** 2
        if gain > best_gain:
            best_gain, best_cut = gain, (xs[i - 1] + xs[i]) / 2
    return best_cut


def mixture_threshold(scores: Sequence[float], iterations: int = 200) -> float:
    """Fit two Gaussians to the scores (EM) and cut where a row becomes more likely to come
    from the high component than the low one. Unlike Otsu, the cut follows the size of
    each group: measured on embedding-classifier scores it dropped 28% of FPB-30 (precision 0.75)
    and 24% of banking77-20 (precision 0.80), where Otsu and the median dropped ~50%.
    Falls back to Otsu when the fit finds no crossing between the two means."""
    import numpy as np

    x = np.asarray(list(scores), dtype=float)
    if len(x) < 4 or x.min() == x.max():
        return -math.inf
    mu = np.percentile(x, [25, 75]).astype(float)
    sd = np.full(2, x.std() / 2 + 1e-3)
    w = np.array([0.5, 0.5])
    for _ in range(iterations):
        dens = w * np.exp(-0.5 * ((x[:, None] - mu) / sd) ** 2) / sd + 1e-300
        resp = dens / dens.sum(axis=1, keepdims=True)
        n = resp.sum(axis=0) + 1e-12
        w, mu = n / len(x), (resp * x[:, None]).sum(axis=0) / n
        sd = np.sqrt((resp * (x[:, None] - mu) ** 2).sum(axis=0) / n) + 1e-3
    low = int(np.argmin(mu))
    grid = np.linspace(mu.min(), mu.max(), 2001)
    dens = w * np.exp(-0.5 * ((grid[:, None] - mu) / sd) ** 2) / sd + 1e-300
    crossing = np.nonzero(dens[:, low] / dens.sum(axis=1) < 0.5)[0]
    if len(crossing) == 0 or mu.max() - mu.min() < 1e-6:
        return otsu_threshold(x.tolist())
    return float(grid[crossing[0]])


def fraction_threshold(scores: Sequence[float], fraction: float) -> float:
    """The cut below which `fraction` of the rows fall (ties kept together)."""
    if not 0.0 <= fraction <= 1.0:
        raise ClearftError(f"--fraction must be in [0, 1], got {fraction}")
    xs = sorted(scores)
    k = round(fraction * len(xs))
    if k <= 0:
        return -math.inf
    if k >= len(xs):
        return math.inf
    return (xs[k - 1] + xs[k]) / 2 if xs[k - 1] != xs[k] else xs[k - 1]


def choose_threshold(
    scores: Sequence[float], threshold: float | None = None, fraction: float | None = None,
    rule: str = "auto",
) -> tuple[float, str]:
    """(threshold, how it was chosen). Rows with confidence below the threshold are dropped.

    rule "auto" = the two-Gaussian mixture cut (measured in bench/results/scoring.md);
    "otsu" = Otsu's cut; "median" = the paper's drop-half."""
    if threshold is not None:
        return threshold, f"threshold {threshold:g} (given)"
    if fraction is not None:
        cut = fraction_threshold(scores, fraction)
        return cut, f"threshold {cut:.4g}: drops the lowest {fraction:.0%}"
    if rule == "median":
        cut = fraction_threshold(scores, 0.5)
        return cut, f"threshold {cut:.4g}: the median (the paper drops the lower half)"
    if rule == "otsu":
        cut = otsu_threshold(scores)
        return cut, f"threshold {cut:.4g}: Otsu's cut between low and high scores"
    if rule != "auto":
        raise ClearftError(f"unknown threshold rule '{rule}'; choose auto, otsu or median")
    cut = mixture_threshold(scores)
    return cut, (f"threshold {cut:.4g}: automatic (where a two-Gaussian mixture of the scores "
                 "tips from the low group to the high one)")


@dataclass
class FilterSummary:
    rows: int = 0
    kept: int = 0
    dropped: int = 0
    threshold: float = 0.0
    rule: str = ""
    reasons: dict[str, int] = field(default_factory=dict)
    output: str = ""
    dropped_path: str = ""

    def lines(self) -> list[str]:
        out = [f"kept {self.kept} of {self.rows} rows, dropped {self.dropped}; {self.rule}"]
        out += [f"  dropped for {reason}: {count}" for reason, count in sorted(self.reasons.items())]
        out.append(f"  wrote {self.output} and {self.dropped_path}")
        return out


def default_dropped_path(output: str | Path) -> Path:
    """`<stem>.dropped.<ext>` beside the output (kept.jsonl -> kept.dropped.jsonl)."""
    p = Path(output)
    return p.with_name(f"{p.stem}.dropped{p.suffix}")


def decide(
    records: Sequence[dict[str, Any]], threshold: float | None = None, fraction: float | None = None,
    rule: str = "auto", keep_failed: bool = False,
) -> tuple[list[tuple[bool, str | None]], float, str]:
    """Per record (keep, drop reason), plus the threshold and how it was chosen. Pure."""
    scores = [number_or_none(r.get("confidence")) for r in records]
    cut, how = choose_threshold([s for s in scores if s is not None], threshold, fraction, rule)
    decisions: list[tuple[bool, str | None]] = []
    for record, score in zip(records, scores, strict=True):
        if score is None:
            if keep_failed:
                decisions.append((True, None))
            elif "confidence" not in record:
                decisions.append((False, REASON_MISSING))
            else:
                error = record.get("clearft_error") or "no score"
                decisions.append((False, f"{REASON_FAILED}: {str(error).splitlines()[0][:120]}"))
        elif score < cut:
            decisions.append((False, f"{REASON_LOW} ({score:.3f} < {cut:.3f})"))
        else:
            decisions.append((True, None))
    return decisions, cut, how


def _reason_group(reason: str) -> str:
    """Summary groups: 'low confidence', 'scoring failed', ... without per-row numbers."""
    for group in (REASON_LOW, REASON_FAILED, REASON_MISSING):
        if reason.startswith(group):
            return group
    return reason


def filter_file(
    scored: str | Path, output: str | Path, *, threshold: float | None = None,
    fraction: float | None = None, rule: str = "auto", dropped_path: str | Path | None = None,
    keep_failed: bool = False, file_type: str | None = None,
) -> FilterSummary:
    """Split a scored file into kept rows (`output`) and dropped rows (`dropped_path`, with
    `clearft_keep` and `clearft_drop_reason`). Both written atomically, in input order."""
    from clearft.data import write_records
    from clearft.data.filetypes import check_file_type, detect_file_type
    from clearft.data.readers import BadRow, read_items

    path = Path(scored)
    if not path.exists():
        raise DataError(str(path), None, None, "no such file")
    kind = check_file_type(file_type, path) if file_type else detect_file_type(path)
    records: list[dict[str, Any]] = []
    for item in read_items(path, kind):
        if isinstance(item, BadRow):
            raise DataError(str(path), item.line, item.field, item.reason)
        records.append(item.record)
    if records and all("confidence" not in r for r in records):
        raise DataError(str(path), None, "confidence",
                        "no 'confidence' column: run `clearft score` on this file first")
    decisions, cut, how = decide(records, threshold, fraction, rule, keep_failed)
    dropped_at = Path(dropped_path) if dropped_path else default_dropped_path(output)
    kept = [r for r, (keep, _) in zip(records, decisions, strict=True) if keep]
    dropped = [{**r, "clearft_keep": False, "clearft_drop_reason": reason}
               for r, (keep, reason) in zip(records, decisions, strict=True) if not keep]
    write_records(str(output), kept)
    write_records(str(dropped_at), dropped)
    reasons = Counter(_reason_group(d["clearft_drop_reason"]) for d in dropped)
    return FilterSummary(rows=len(records), kept=len(kept), dropped=len(dropped), threshold=cut,
                         rule=how, reasons=dict(reasons), output=str(output), dropped_path=str(dropped_at))
