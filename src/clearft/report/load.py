"""Read what the report shows: scored files, a run directory, their sidecar settings.

Tolerant by design: a run killed half-way, a file from an older version, or a CSV whose
dict columns came back as JSON strings still gives a report of whatever exists. Only a
path that holds nothing readable is an error.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearft.data.jsonl import read_json_lines
from clearft.data.options import DataOptions
from clearft.errors import ClearftError, DataError

# Columns clearft adds; everything else in a record belongs to the user.
CLEARFT_COLUMNS = {
    "id", "confidence", "consistency", "self_reflection", "clearft_method", "clearft_evidence",
    "clearft_error", "clearft_keep", "clearft_drop_reason", "clearft_original_response",
    "clearft_correction",
}
SCORE_PREFIX = "confidence__"  # confidence__<method>: one more method's score on the same row
STAGE_NAMES = ("scored", "kept", "dropped", "corrected")
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass
class Row:
    """One record as the report sees it: the user's record plus the prompt and target text."""

    id: str
    record: dict[str, Any]
    prompt: str
    target: str
    status: str = ""  # kept | dropped | corrected (from a run's stage files), else ""
    scores: dict[str, float | None] = field(default_factory=dict)  # other methods, by name


@dataclass
class ScoredFile:
    path: Path
    method: str
    meta: dict[str, Any]
    rows: list[Row]


@dataclass
class ReportInput:
    """Everything loaded, before any presentation decision."""

    sources: list[str]  # the paths the user gave, for the report header
    rows: list[Row]
    methods: list[str]  # methods[0] is the main `confidence`; the rest fill Row.scores
    meta: dict[str, Any]  # settings of the main scored file
    run_summary: dict[str, Any] | None = None  # summary.json of a run directory
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading records


def read_records(path: Path) -> list[dict[str, Any]]:
    """Plain records of a JSONL, JSON (list of objects), CSV or Parquet file, untouched."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_json_lines(path)
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(str(path), None, None, "a .json data file must hold a list of objects")
        return data
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return [dict(r) for r in csv.DictReader(f)]
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # core dependency, but only this path needs it

        return list(pq.read_table(path).to_pylist())
    raise ClearftError(f"{path}: cannot read '{suffix}' files; give a .jsonl, .json, .csv or .parquet")


# ------------------------------------------------------- prompt and target of a record

_PAIRS = [
    ("prompt", "response"), ("prompt", "completion"), ("question", "answer"),
    ("instruction", "output"), ("input", "output"), ("query", "response"), ("text", "label"),
    ("text", "category"),
]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _turns_text(turns: list[Any]) -> str:
    parts = []
    for t in turns:
        if isinstance(t, dict):
            role = t.get("role", t.get("from", "?"))
            parts.append(f"{role}: {_as_text(t.get('content', t.get('value')))}")
    return "\n\n".join(parts)


def guess_prompt_and_target(record: dict[str, Any]) -> tuple[str, str]:
    """Best-effort prompt and target text for display when clearft.data is unavailable."""
    for key in ("messages", "conversations"):
        turns = _maybe_json(record.get(key))
        if isinstance(turns, list) and turns and isinstance(turns[-1], dict):
            last = turns[-1]
            return _turns_text(turns[:-1]), _as_text(last.get("content", last.get("value")))
    for p, r in _PAIRS:
        if p in record and r in record:
            prompt = _maybe_json(record[p])
            prompt_text = _turns_text(prompt) if isinstance(prompt, list) else _as_text(prompt)
            if p == "instruction" and record.get("input"):
                prompt_text += "\n\n" + _as_text(record["input"])
            return prompt_text, _as_text(record[r])
    return "", ""


def _maybe_json(value: Any) -> Any:
    """Dict/list columns come back from CSV as JSON text; parse those, leave the rest alone."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _float_or_none(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None  # drop NaN/inf


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """Types a CSV round trip loses, put back: numbers, dicts, booleans; empty strings -> None."""
    out = dict(record)
    for key in ("confidence", "consistency", "self_reflection"):
        if key in out:
            out[key] = _float_or_none(out[key])
    for key in list(out):
        if key.startswith(SCORE_PREFIX):
            out[key] = _float_or_none(out[key])
    for key in ("clearft_evidence", "clearft_correction"):
        if key in out:
            out[key] = _maybe_json(out[key]) or None
    for key in ("clearft_error", "clearft_method", "clearft_drop_reason", "clearft_original_response"):
        if out.get(key) == "":
            out[key] = None
    return out


def _rows_with_data_layer(path: Path, data_options: DataOptions) -> list[Row]:
    """Rows through clearft.data (the project's reader, which knows every record format)."""
    rows = []
    for ex in data_options.open(path):
        record = normalise_record(ex.record)
        rows.append(Row(id=str(record.get("id", ex.id)), record=record,
                        prompt=ex.prompt_text, target=ex.response))
    return rows


def load_rows(path: Path, data_options: DataOptions | None = None) -> list[Row]:
    options = data_options or DataOptions()
    try:
        return _rows_with_data_layer(path, options)
    except ClearftError:
        pass  # the strict reader refused; show the records as they are
    prompt_col, response_col = options.prompt_col, options.response_col
    out = []
    for n, raw in enumerate(read_records(path), 1):
        record = normalise_record(raw)
        if prompt_col or response_col:
            prompt = _as_text(record.get(prompt_col)) if prompt_col else ""
            target = _as_text(record.get(response_col)) if response_col else ""
        else:
            prompt, target = guess_prompt_and_target(record)
        out.append(Row(id=str(record.get("id", n)), record=record, prompt=prompt, target=target))
    return out


def read_meta(path: Path) -> dict[str, Any]:
    """The settings sidecar `<file>.meta.json` (also accepted: `<stem>.meta.json`)."""
    for candidate in (Path(str(path) + ".meta.json"), path.with_suffix(".meta.json")):
        if candidate.is_file():
            data = json.loads(candidate.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
    return {}


def method_of(path: Path, meta: dict[str, Any], rows: Iterable[Row]) -> str:
    if meta.get("method"):
        return str(meta["method"])
    counts = Counter(r.record.get("clearft_method") for r in rows if r.record.get("clearft_method"))
    return str(counts.most_common(1)[0][0]) if counts else path.stem


def load_scored_file(path: Path, data_options: DataOptions | None = None) -> ScoredFile:
    rows = load_rows(path, data_options)
    meta = read_meta(path)
    return ScoredFile(path=path, method=method_of(path, meta, rows), meta=meta, rows=rows)


# ---------------------------------------------------------------- run directories


def stage_file(run_dir: Path, stage: str) -> Path | None:
    for suffix in FILE_SUFFIXES:
        p = run_dir / f"{stage}{suffix}"
        if p.is_file():
            return p
    return None


def correction_files(run_dir: Path) -> list[Path]:
    """uncorrected/corrected files of each Auto-Correct iteration, oldest first, so that a
    later iteration's verdict on a row wins."""
    found: list[Path] = []
    i = 1
    while True:
        sfx = "" if i == 1 else f"_{i}"
        files = [stage_file(run_dir, f"uncorrected{sfx}"), stage_file(run_dir, f"corrected{sfx}")]
        if not any(files):
            return found
        found.extend(f for f in files if f is not None)
        i += 1


def is_run_directory(path: Path) -> bool:
    """A folder from `clearft run`; a Hugging Face save_to_disk folder is a scored file instead."""
    return path.is_dir() and not (path / "dataset_info.json").is_file()


def _load_run(run_dir: Path, data_options: DataOptions) -> tuple[ScoredFile, dict[str, Any], list[str]]:
    warnings: list[str] = []
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    else:
        warnings.append(f"{run_dir}: no summary.json (the run has not finished)")
    stages = {s: stage_file(run_dir, s) for s in STAGE_NAMES}
    main_path = stages["scored"] or stages["corrected"] or stages["kept"] or stages["dropped"]
    if main_path is None:
        raise ClearftError(f"{run_dir}: no scored, kept, dropped or corrected file to report on")
    main = load_scored_file(main_path, data_options)
    by_id = {r.id: r for r in main.rows}
    for stage in ("kept", "dropped"):
        p = stages[stage]
        if p is not None and p != main_path:
            for r in load_rows(p, data_options):
                if r.id in by_id:
                    by_id[r.id].status = stage
                    if r.record.get("clearft_drop_reason"):
                        by_id[r.id].record["clearft_drop_reason"] = r.record["clearft_drop_reason"]
    for path in correction_files(run_dir):
        if path == main_path:
            continue
        for r in load_rows(path, data_options):
            target = by_id.get(r.id)
            if target is None:
                continue
            for key in ("clearft_original_response", "clearft_correction"):
                if r.record.get(key) is not None:
                    target.record[key] = r.record[key]
            correction = r.record.get("clearft_correction")
            if isinstance(correction, dict) and correction.get("replaced"):
                target.status = "corrected"
    if not main.meta and isinstance(summary.get("settings"), dict):
        main.meta = dict(summary["settings"])
    return main, summary, warnings


# ---------------------------------------------------------------- entry point


def load_report_input(paths: list[str | Path], data_options: DataOptions | None = None) -> ReportInput:
    """One run directory, or one or more scored files joined by id (the first one leads)."""
    options = data_options or DataOptions()
    if not paths:
        raise ClearftError("give a run directory or at least one scored file")
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise ClearftError(f"{p}: no such file or directory")
    summary: dict[str, Any] | None = None
    warnings: list[str] = []
    if is_run_directory(resolved[0]):
        main, summary, warnings = _load_run(resolved[0], options)
        extra_paths = resolved[1:]
    else:
        main = load_scored_file(resolved[0], options)
        extra_paths = resolved[1:]
    methods = [main.method]
    # More methods inside the main file, as confidence__<method> columns.
    column_methods = sorted({k[len(SCORE_PREFIX):] for r in main.rows for k in r.record
                             if k.startswith(SCORE_PREFIX)})
    for name in column_methods:
        if name in methods:
            continue
        methods.append(name)
        for r in main.rows:
            r.scores[name] = r.record.get(SCORE_PREFIX + name)
    # More methods as more scored files, joined by id.
    by_id = {r.id: r for r in main.rows}
    for p in extra_paths:
        other = load_scored_file(p, options)
        name = other.method if other.method not in methods else f"{other.method} ({p.stem})"
        methods.append(name)
        seen = 0
        for r in other.rows:
            if r.id in by_id:
                by_id[r.id].scores[name] = r.record.get("confidence")
                seen += 1
        if seen < len(other.rows):
            warnings.append(f"{p}: {len(other.rows) - seen} ids are not in {main.path.name}; left out")
        if seen < len(main.rows):
            warnings.append(f"{p}: has no score for {len(main.rows) - seen} rows of {main.path.name}")
    return ReportInput(sources=[str(p) for p in resolved], rows=main.rows, methods=methods,
                       meta=main.meta, run_summary=summary, warnings=warnings)
