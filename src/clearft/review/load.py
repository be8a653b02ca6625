"""Read what the queue is built from: a `clearft run` directory or one scored/corrected file.

A run's review pool is the rows the filter dropped and Auto-Correct did not replace: the
uncorrected files of every correction iteration (a later iteration's verdict wins), plus the
dropped rows no correction looked at. Rows it replaced are done. A file's pool is its rows.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.data.options import DataOptions
from clearft.errors import ClearftError
from clearft.review.rank import is_replaced

FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass
class PoolRow:
    id: str
    prompt: str
    target: str
    record: dict[str, Any]  # the record as stored, clearft's columns included
    source: str  # the file it came from


def stage_file(run_dir: Path, stage: str) -> Path | None:
    for suffix in FILE_SUFFIXES:
        p = run_dir / f"{stage}{suffix}"
        if p.is_file():
            return p
    return None


def correction_files(run_dir: Path) -> list[tuple[Path | None, Path | None]]:
    """(corrected, uncorrected) of each Auto-Correct iteration, oldest first."""
    found: list[tuple[Path | None, Path | None]] = []
    i = 1
    while True:
        sfx = "" if i == 1 else f"_{i}"
        pair = (stage_file(run_dir, f"corrected{sfx}"), stage_file(run_dir, f"uncorrected{sfx}"))
        if pair == (None, None):
            return found
        found.append(pair)
        i += 1


def is_run_directory(path: Path) -> bool:
    return path.is_dir() and not (path / "dataset_info.json").is_file()


def read_rows(path: Path, data_options: DataOptions | None = None) -> list[PoolRow]:
    """Every row of a data file through clearft.data (any file type and record format)."""
    if path.is_file() and path.stat().st_size == 0:
        return []
    out = []
    for ex in (data_options or DataOptions()).open(path):
        record = dict(ex.record)
        for key in ("clearft_correction", "clearft_evidence"):
            value = record.get(key)
            if isinstance(value, str) and value[:1] == "{":
                with contextlib.suppress(json.JSONDecodeError):
                    record[key] = json.loads(value)
        out.append(PoolRow(id=ex.id, prompt=ex.prompt_text, target=ex.response, record=record, source=str(path)))
    return out


def load_pool(path: str | Path, data_options: DataOptions | None = None) -> list[PoolRow]:
    """The rows a reviewer may be asked about, in a stable order."""
    p = Path(path)
    if not p.exists():
        raise ClearftError(f"{p}: no such file or directory")
    if not is_run_directory(p):
        return read_rows(p, data_options)
    by_id: dict[str, PoolRow] = {}
    replaced: set[str] = set()
    for corrected, uncorrected in correction_files(p):
        if corrected is not None:
            for row in read_rows(corrected, data_options):
                if is_replaced(row.record):
                    replaced.add(row.id)
                    by_id.pop(row.id, None)
                else:  # a corrected file written by hand or an older version: refusals too
                    replaced.discard(row.id)
                    by_id[row.id] = row
        if uncorrected is not None:
            for row in read_rows(uncorrected, data_options):
                replaced.discard(row.id)
                by_id[row.id] = row
    dropped = stage_file(p, "dropped")
    if dropped is not None:
        for row in read_rows(dropped, data_options):
            if row.id not in by_id and row.id not in replaced:
                by_id[row.id] = row
    if not by_id and not replaced:
        scored = stage_file(p, "scored")
        if scored is None:
            raise ClearftError(f"{p}: no dropped, uncorrected or scored file to review")
        return read_rows(scored, data_options)
    return list(by_id.values())
