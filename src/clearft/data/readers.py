"""Streaming readers: each file type yields its records one by one, with their line numbers.

A reader yields ``Row`` (a record) or ``BadRow`` (a line that could not become a record: bad
JSON, bad bytes, a ragged CSV row) and keeps going; what a reader cannot get past (an
unreadable file, a broken JSON document, an empty file) raises ``DataError`` at once.

Memory stays flat as files grow: JSONL and CSV are read line by line, Parquet one batch of
rows at a time, `datasets` folders through their memory-mapped Arrow files. A JSON document
(a top-level list) has to be held as text, but is decoded one object at a time.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.errors import DataError

BATCH_ROWS = 1024  # Parquet / datasets rows decoded at a time


@dataclass
class Row:
    line: int  # 1-based line (JSONL, JSON, CSV: where the record starts) or row (Parquet, hf)
    record: dict[str, Any]


@dataclass
class BadRow:
    line: int
    field: str | None
    reason: str
    raw: Any  # the line's text (bad bytes shown as \\x..) or the record


Item = Row | BadRow


def read_items(path: Path, file_type: str) -> Iterator[Item]:
    readers = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv,
               "parquet": read_parquet, "hf": read_hf}
    try:
        yield from readers[file_type](path)
    except OSError as exc:  # unreadable: permissions, a folder, a vanished file
        raise DataError(str(path), None, None, f"cannot read: {exc.strerror or exc}") from None


def peek_columns(path: Path, file_type: str) -> list[str]:
    """Column names: the header or schema, else the keys of the first good record."""
    try:
        return _peek_columns(path, file_type)
    except OSError as exc:
        raise DataError(str(path), None, None, f"cannot read: {exc.strerror or exc}") from None


def _peek_columns(path: Path, file_type: str) -> list[str]:
    if file_type == "csv":
        return csv_header(path)
    if file_type == "parquet":
        return list(parquet_file(path).schema_arrow.names)
    if file_type == "hf":
        return list(hf_dataset(path).column_names)
    for item in read_items(path, file_type):
        if isinstance(item, Row):
            return list(item.record)
    raise DataError(str(path), None, None, "no readable record in the file")


def bad_bytes_reason(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start]
    return f"not valid UTF-8 (byte 0x{byte:02x} at column {exc.start + 1}); save the file as UTF-8"


# ---------------------------------------------------------------- JSON Lines


def read_jsonl(path: Path) -> Iterator[Item]:
    seen_any = False
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            if line_no == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue  # blank lines separate nothing and hold no record
            seen_any = True
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadRow(line_no, None, bad_bytes_reason(exc),
                             raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield BadRow(line_no, None, f"malformed JSON: {exc.msg} (column {exc.colno})",
                             text.rstrip("\r\n"))
                continue
            except RecursionError:
                yield BadRow(line_no, None, TOO_DEEP, text[:200])
                continue
            if not isinstance(record, dict):
                yield BadRow(line_no, None, f"expected a JSON object, got {json_kind(record)}",
                             text.rstrip("\r\n"))
                continue
            bad_field = unencodable_field(record) if has_surrogate_escape(text) else None
            if bad_field is not None:
                yield BadRow(line_no, bad_field, LONE_SURROGATE, text.rstrip("\r\n"))
                continue
            yield Row(line_no, record)
    if not seen_any:
        raise DataError(str(path), None, None, "the file is empty (no records)")


TOO_DEEP = "JSON nested too deeply to read (thousands of levels)"
LONE_SURROGATE = "a \\ud800-\\udfff escape that is half of a character (a lone surrogate): not valid text"


def has_surrogate_escape(text: str) -> bool:
    # Cheap pre-check: only text with such an escape can decode to a lone surrogate.
    return "\\ud" in text or "\\uD" in text


def unencodable_field(record: dict[str, Any]) -> str | None:
    """The first field whose value (or name) cannot be written as UTF-8, if any."""
    for key, value in record.items():
        try:
            json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return str(key.encode("utf-8", "backslashreplace").decode())
    return None


def json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


# ---------------------------------------------------------------- JSON (a top-level list)


def read_json(path: Path) -> Iterator[Item]:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(str(path), line, None, bad_bytes_reason(exc)) from None
    decoder = json.JSONDecoder()
    pos = skip_space(text, 0)
    if pos == len(text):
        raise DataError(str(path), None, None, "the file is empty (no records)")
    if text[pos] != "[":
        raise DataError(str(path), 1, None,
                        "expected a top-level JSON list of objects (or use JSON Lines, .jsonl)")
    pos = skip_space(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        raise DataError(str(path), None, None, "the file is empty (an empty JSON list)")
    line = text.count("\n", 0, pos) + 1
    surrogates = has_surrogate_escape(text)
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            # One broken object breaks the document: there is no next record to resync to.
            raise DataError(str(path), exc.lineno, None,
                            f"malformed JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise DataError(str(path), line, None, TOO_DEEP) from None
        bad_field = unencodable_field(value) if isinstance(value, dict) and surrogates else None
        if bad_field is not None:
            yield BadRow(line, bad_field, LONE_SURROGATE, json.dumps(value))  # escaped: writable
        elif isinstance(value, dict):
            yield Row(line, value)
        else:
            yield BadRow(line, None, f"expected a JSON object, got {json_kind(value)}", value)
        after = skip_space(text, end)
        if after < len(text) and text[after] == ",":
            nxt = skip_space(text, after + 1)
            line += text.count("\n", pos, nxt)
            pos = nxt
            continue
        where = text.count("\n", 0, after) + 1
        if after == len(text):
            raise DataError(str(path), text.count("\n", 0, end) + 1, None,
                            "malformed JSON: the list is not closed with ']' after this object")
        if text[after] != "]":
            raise DataError(str(path), where, None, "malformed JSON: expected ',' or ']' after an object")
        if skip_space(text, after + 1) != len(text):
            raise DataError(str(path), where, None, "malformed JSON: text after the closing ']'")
        return


def skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


# ---------------------------------------------------------------- CSV


def open_csv(path: Path) -> Any:
    # surrogateescape keeps bad bytes as markers, so one bad row is reported, not the file.
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def csv_header(path: Path) -> list[str]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long answers exceed the 128 KiB default
    with open_csv(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise DataError(str(path), None, None, "the file is empty (no header row)")
    for i, name in enumerate(header):
        if not is_utf8(name):
            raise DataError(str(path), 1, None, f"header column {i + 1} is not valid UTF-8")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(str(path), 1, dupes[0], "the header names this column twice")
    return header


def is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_csv(path: Path) -> Iterator[Item]:
    header = csv_header(path)
    width = len(header)
    count = 0
    with open_csv(path) as f:
        reader = csv.reader(f)
        next(reader)
        end_line = reader.line_num
        while True:
            start = end_line + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise DataError(str(path), start, None, f"unreadable CSV: {exc}") from None
            end_line = reader.line_num
            if not fields:
                continue  # a blank line
            count += 1
            if len(fields) != width:
                yield BadRow(start, None,
                             f"ragged row: {len(fields)} fields where the header has {width}",
                             ",".join(fields).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
                continue
            record = dict(zip(header, fields, strict=True))
            bad = next((k for k, v in record.items() if not is_utf8(v)), None)
            if bad is not None:
                raw = {k: v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                       for k, v in record.items()}
                yield BadRow(start, bad, "not valid UTF-8; save the file as UTF-8", raw)
                continue
            yield Row(start, record)
    if count == 0:
        raise DataError(str(path), None, None, "the file has a header but no rows")


# ---------------------------------------------------------------- Parquet


def parquet_file(path: Path) -> Any:
    import pyarrow.lib
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, pre_buffer=False)
    except (pyarrow.lib.ArrowException, OSError) as exc:
        raise DataError(str(path), None, None, f"not a readable Parquet file: {exc}") from None


def read_parquet(path: Path) -> Iterator[Item]:
    pf = parquet_file(path)
    if pf.metadata.num_rows == 0:
        raise DataError(str(path), None, None, "the file is empty (no rows)")
    row = 0
    # No pre-buffering and no decoding threads: with them, memory grows with the row groups.
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
        for record in batch.to_pylist():
            row += 1
            yield Row(row, record)


# ---------------------------------------------------------------- datasets folders


def hf_dataset(path: Path) -> Any:
    from clearft.deps import require

    datasets = require("datasets", "reading a datasets folder")
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types; any of them means "unreadable"
        raise DataError(str(path), None, None, f"not a readable datasets folder: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" in ds:
            return ds["train"]
        if len(ds) == 1:
            return next(iter(ds.values()))
        raise DataError(str(path), None, None,
                        f"a DatasetDict with splits {list(ds)} and no 'train'; point at one split's folder")
    return ds


def read_hf(path: Path) -> Iterator[Item]:
    ds = hf_dataset(path)
    if len(ds) == 0:
        raise DataError(str(path), None, None, "the dataset is empty (no rows)")
    row = 0
    for batch in ds.with_format("arrow").iter(batch_size=BATCH_ROWS):
        for record in batch.to_pylist():
            row += 1
            yield Row(row, record)
