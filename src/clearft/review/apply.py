"""Merge a reviewer's decisions (the queue page's JSONL) into the dataset, with an audit trail.

Each decision line: {"id", "decision": keep | replace | edit | drop, "new_target" (replace
and edit), "reviewer" (optional), "decided_at" (optional, ISO time)}. A changed row keeps its
earlier target in clearft_original_response (the first one, when Auto-Correct had already
replaced it), and every decided row gets clearft_review: {decision, reviewer, decided_at}.
Dropped rows go to a side file (`<stem>.dropped.<ext>` beside the output) with clearft_keep
false and clearft_drop_reason, as the filter writes them. Nothing is lost: every input row is
in the output or the side file.

With a run directory as the data, the dataset is the run's last training set
(train_corrected*, else kept), and rows the reviewer keeps, replaces or edits are taken from
the rows the run left out (uncorrected, dropped) and added to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearft.data.options import DataOptions
from clearft.errors import ClearftError, DataError
from clearft.review.annotations import read_decisions
from clearft.review.decisions import RecordError

ORIGINAL_COL = "clearft_original_response"
REVIEW_COL = "clearft_review"
DROP_REASON = "review: dropped"


@dataclass
class ApplySummary:
    rows: int = 0  # rows written to the output
    dropped: int = 0  # rows written to the side file
    decisions: dict[str, int] = field(default_factory=dict)  # count per decision
    added: int = 0  # rows a run had left out, brought back by a decision
    output: str = ""
    dropped_path: str = ""

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items())) or "none"
        out = [f"applied decisions: {counts}"]
        if self.added:
            out.append(f"  {self.added} rows the run had left out are back in the dataset")
        out.append(f"  wrote {self.rows} rows to {self.output} and {self.dropped} to {self.dropped_path}")
        return out


def default_dropped_path(output: str | Path) -> Path:
    p = Path(output)
    return p.with_name(f"{p.stem}.dropped{p.suffix}")


def _run_sources(run_dir: Path) -> tuple[Path, list[Path]]:
    """(the run's training set, the files of rows it left out, latest first)."""
    from clearft.review.load import correction_files, stage_file

    trains = []
    i = 1
    while (t := stage_file(run_dir, "train_corrected" if i == 1 else f"train_corrected_{i}")) is not None:
        trains.append(t)
        i += 1
    main = trains[-1] if trains else stage_file(run_dir, "kept")
    if main is None:
        raise ClearftError(f"{run_dir}: no kept or train_corrected file to apply decisions to")
    left_out = [u for _, u in reversed(correction_files(run_dir)) if u is not None]
    dropped = stage_file(run_dir, "dropped")
    if dropped is not None:
        left_out.append(dropped)
    return main, left_out


def _strip_stage_columns(record: dict[str, Any]) -> dict[str, Any]:
    """A left-out row brought back: it is kept now, so the filter's drop marks go."""
    return {k: v for k, v in record.items() if k not in ("clearft_keep", "clearft_drop_reason")}


def _same_columns(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record with every column (None where it had none), in first-seen order: a
    Parquet or `datasets` writer takes its schema from the first rows and would lose the
    audit columns of a later decided row."""
    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    return [{c: r.get(c) for c in columns} for r in records]


def apply_decisions(decisions_path: str | Path, data: str | Path, output: str | Path, *,
                    dropped_path: str | Path | None = None, source: str = "auto",
                    data_options: DataOptions | None = None) -> ApplySummary:
    """Write `output` (the dataset with the decisions applied) and the dropped side file."""
    from clearft.data import write_records
    from clearft.review.load import is_run_directory

    decisions = read_decisions(decisions_path, source)
    options = data_options or DataOptions()
    src = Path(data)
    if not src.exists():
        raise ClearftError(f"{src}: no such file or directory")
    main, left_out = _run_sources(src) if is_run_directory(src) else (src, [])
    ds = options.open(main)
    examples = list(ds)
    present = {ex.id for ex in examples}
    extra = []  # (dataset, example) of left-out rows a decision brings back or drops
    for path in left_out:
        if path.stat().st_size == 0:
            continue
        other = options.open(path)
        for ex in other:
            if ex.id in decisions and ex.id not in present:
                present.add(ex.id)
                extra.append((other, ex))
    unknown = [d for d in decisions.values() if d.id not in present]
    if unknown:
        first = min(unknown, key=lambda d: d.line)
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        reason = f"no row with id '{first.id}' in {src}{more}"
        if first.where:
            raise RecordError(str(decisions_path), first.where, "id", reason)
        raise DataError(str(decisions_path), first.line, "id", reason)
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    summary = ApplySummary()
    for dataset, ex, brought_back in [(ds, ex, False) for ex in examples] + [(d, e, True) for d, e in extra]:
        d = decisions.get(ex.id)
        record = _strip_stage_columns(ex.record) if brought_back else dict(ex.record)
        if d is None:
            kept.append(record)
            continue
        summary.decisions[d.decision] = summary.decisions.get(d.decision, 0) + 1
        review = {"decision": d.decision, "reviewer": d.reviewer, "decided_at": d.decided_at}
        if d.decision == "drop":
            dropped.append({**record, REVIEW_COL: review, "clearft_keep": False, "clearft_drop_reason": DROP_REASON})
            continue
        if d.new_target is not None and d.new_target != ex.response:
            original = record.get(ORIGINAL_COL)
            record = dataset.format.with_response(record, d.new_target)
            record[ORIGINAL_COL] = original if original not in (None, "") else ex.response
        record[REVIEW_COL] = review
        summary.added += brought_back
        kept.append(record)
    kept, dropped = _same_columns(kept), _same_columns(dropped)
    dropped_at = Path(dropped_path) if dropped_path else default_dropped_path(output)
    summary.rows = write_records(output, kept)
    summary.dropped = write_records(dropped_at, dropped)
    summary.output, summary.dropped_path = str(output), str(dropped_at)
    return summary
