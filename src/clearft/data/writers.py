"""Atomic writers: records go to a temporary file beside the target, which then replaces the
target in one rename, so a killed run never leaves a truncated file.

Every column of every record is written. Lists and objects stay native in JSON, JSONL,
Parquet and `datasets` folders; in CSV they become JSON text.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clearft.data.filetypes import check_file_type, detect_file_type
from clearft.errors import ClearftError, DataError

PARQUET_BATCH_ROWS = 10_000


def write_records(path: str | Path, records: Iterable[dict[str, Any]], *,
                  file_type: str | None = None) -> int:
    """Write records to `path` atomically (type from the suffix unless given); returns the count."""
    target = Path(path)
    kind = check_file_type(file_type, target) if file_type else detect_file_type(target, must_exist=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "hf":
            return write_hf(target, records)
        writer = {"jsonl": write_jsonl, "json": write_json, "csv": write_csv, "parquet": write_parquet}[kind]
        with atomic_path(target) as tmp:
            return writer(tmp, records)
    except OSError as exc:  # permissions, a full disk: the old file, if any, is still whole
        raise ClearftError(f"{target}: cannot write: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`; renamed over it only if the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: Path, text: str) -> int:
    """Write a text file (a report, a review page) all at once; returns its size in bytes.
    mkstemp makes the file private (0600); a page is meant to be shared like any output, so it
    gets the usual umask permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    return len(data)


def json_default(value: Any) -> Any:
    """Values JSON lacks (dates and bytes from Parquet) become text."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=json_default)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(to_json(record))
            f.write("\n")
            count += 1
    return count


def write_json(path: Path, records: Iterable[dict[str, Any]]) -> int:
    # One object per line inside the list, so line numbers in errors stay meaningful.
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("[")
        for record in records:
            f.write(",\n" if count else "\n")
            f.write(to_json(record))
            count += 1
        f.write("\n]\n" if count else "]\n")
    return count


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, default=json_default)


def write_csv(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """The header is the first record's columns; a later record that brings new columns makes
    one extra pass that rewrites the file with the wider header (missing cells left empty)."""
    columns: list[str] = []
    known: set[str] = set()
    header_columns = 0
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)  # "\r\n" (RFC 4180): with "\n" a lone "\r" in a cell goes unquoted
        for record in records:
            for key in record:
                if key not in known:
                    known.add(key)
                    columns.append(key)
            if count == 0:
                out.writerow(columns)
                header_columns = len(columns)
            out.writerow([csv_cell(record.get(c)) for c in columns])
            count += 1
    if len(columns) != header_columns:
        widen_csv(path, columns)
    return count


def widen_csv(path: Path, columns: list[str]) -> None:
    wide = path.with_name(path.name + ".wide")
    with open(path, encoding="utf-8", newline="") as src, open(wide, "w", encoding="utf-8", newline="") as dst:
        reader = csv.reader(src)
        out = csv.writer(dst)
        next(reader)
        out.writerow(columns)
        for row in reader:
            out.writerow(row + [""] * (len(columns) - len(row)))
    os.replace(wide, path)


def write_parquet(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Written in batches; the schema comes from the first batch (about 10,000 rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: Any = None
    schema: Any = None
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal writer, schema
        if not batch:
            return
        try:
            table = pa.Table.from_pylist(batch, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ClearftError(
                f"{path}: records near row {count} do not fit the column types of the first "
                f"{PARQUET_BATCH_ROWS} rows ({exc}); write JSONL instead") from None
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table)
        batch.clear()

    try:
        for record in records:
            if schema is not None and any(k not in schema.names for k in record):
                new = [k for k in record if k not in schema.names]
                raise ClearftError(f"{path}: record {count + 1} brings new columns {new}; "
                                   "Parquet needs them all in the first rows; write JSONL instead")
            batch.append(record)
            count += 1
            if len(batch) >= PARQUET_BATCH_ROWS:
                flush()
        flush()
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no records: still write a valid, empty file
        pq.write_table(pa.table({}), path)
    return count


def write_hf(target: Path, records: Iterable[dict[str, Any]]) -> int:
    """A `datasets` folder (save_to_disk), built from a temporary Parquet file, then moved
    into place with renames (the old folder is kept aside until the new one is in)."""
    from clearft.deps import require

    datasets = require("datasets", "writing a datasets folder")
    if target.exists() and not target.is_dir():
        raise DataError(str(target), None, None, "exists and is not a folder; cannot write a datasets folder")
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        parquet = work / "records.parquet"
        count = write_parquet(parquet, records)
        ds = datasets.Dataset.from_parquet(str(parquet), cache_dir=str(work / "cache"))
        staged = work / "dataset"
        ds.save_to_disk(str(staged))
        del ds
        aside = work / "previous"
        if target.exists():
            os.replace(target, aside)
        os.replace(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return count

