"""Auto-Correct's files: the columns it adds, reading a data file as examples, which rows
were filtered out (low), the candidates file the loop's candidates stage writes, and the
default side file of the rows left out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.correction.candidates import Candidate, conform, generate_candidates
from clearft.correction.config import CorrectConfig
from clearft.data.cells import number_or_none
from clearft.data.example import Example
from clearft.data.options import DataOptions

ORIGINAL_COL = "clearft_original_response"
CORRECTION_COL = "clearft_correction"
CANDIDATE_COL = "clearft_candidate"
CANDIDATE_ERROR_COL = "clearft_candidate_error"


def confidence_of(record: dict[str, Any]) -> float | None:
    """The scorer's `confidence` column, tolerant of CSV strings and empty cells."""
    return number_or_none(record.get("confidence"))


def is_low(record: dict[str, Any], threshold: float | None) -> bool:
    """Was the row filtered out? A `clearft_keep` column (set by the loop) says so; else,
    with a threshold, a confidence below it; without one every row is low (the input is
    the filter's dropped file)."""
    keep = record.get("clearft_keep")
    if keep is not None and keep != "":
        return str(keep).strip().lower() in ("false", "0", "no")
    if threshold is None:
        return True
    c = confidence_of(record)
    return c is None or c < threshold


def low_rows(examples: Sequence[Example], threshold: float | None, all_rows: bool) -> list[bool]:
    """Which rows were filtered out. Without a threshold or a `clearft_keep` column nothing
    says: DATA is then the dropped file (all low), or with --all the whole dataset (none low)."""
    known = threshold is not None or any("clearft_keep" in ex.record for ex in examples)
    return [is_low(ex.record, threshold) if known else not all_rows for ex in examples]


def default_side_path(output: str | Path, suffix: str = "uncorrected") -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.{suffix}{out.suffix}")


def conformed(ds: Any, ex: Example, cand: Candidate) -> Candidate:
    if cand.text is None:
        return cand
    text, problem = conform(ds, ex, cand.text)
    return Candidate(cand.id, text, problem)


def candidate_of(record: dict[str, Any]) -> Candidate:
    text = record.get(CANDIDATE_COL)
    err = record.get(CANDIDATE_ERROR_COL) or None
    return Candidate(str(record.get("id", "")), None if text in (None, "") or err else str(text), err)


def read_examples(path: str | Path, data_options: DataOptions | None = None,
                  rejects_path: str | Path | None = None) -> tuple[Any, list[Example]]:
    """(dataset, its examples); an empty file (no row was dropped) is no examples, not an error."""
    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        return None, []
    ds = (data_options or DataOptions()).open(str(p), rejects_path=rejects_path)
    return ds, list(ds)


def write_candidates(
    data: str | Path,
    output: str | Path,
    candidate_backend: Backend,
    config: CorrectConfig | None = None,
    *,
    data_options: DataOptions | None = None,
) -> int:
    """The loop's candidates stage: every row of `data` plus its greedy candidate column."""
    from clearft.data import write_records

    config = config or CorrectConfig()
    ds, examples = read_examples(data, data_options)
    cands = generate_candidates(examples, candidate_backend, max_tokens=config.candidate_max_tokens,
                                seed=config.seed, batch_size=config.batch_size)
    rows = []
    for ex, cand in zip(examples, cands, strict=True):
        cand = conformed(ds, ex, cand)
        rec = dict(ex.record)
        rec[CANDIDATE_COL] = cand.text
        rec[CANDIDATE_ERROR_COL] = cand.error
        rows.append(rec)
    return int(write_records(str(output), rows) or len(rows))
