"""Reading a JSONL file clearft or a tool wrote as plain dicts (no record format, no ids):
the report's and the in-memory API's reader. Data to curate goes through open_dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clearft.errors import DataError


def json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line of `path`; a line that is no JSON
    is a DataError naming the file and the line."""
    with Path(path).open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(str(path), line_no, None, f"not valid JSON ({exc.msg})") from None


def read_json_lines(path: str | Path) -> list[dict[str, Any]]:
    """Every JSON object of `path`, in order; blank lines skipped (an empty file is no rows).
    A line that is no JSON object is a DataError naming the file and the line."""
    records = []
    for line_no, obj in json_lines(path):
        if not isinstance(obj, dict):
            raise DataError(str(path), line_no, None, "each line must be a JSON object")
        records.append(obj)
    return records
