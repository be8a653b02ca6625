"""In-memory data <-> the JSONL files the file API reads and writes.

The Python API runs the very functions the CLI runs (score_file, filter_file, correct_file,
the pipeline): it writes the rows to a JSONL file in a temporary folder, calls the file
function, and reads its output back into the type it was given, so the two APIs cannot drift.

Supported: a list of dicts, a pandas DataFrame, a Hugging Face ``datasets.Dataset``. pandas
and datasets are never imported here unless the data already is one of theirs (they are in
``sys.modules`` then), which keeps ``import clearft`` cheap.

A DataFrame travels with one extra column, ``_clearft_row`` (its row position), removed on the
way back: the result keeps the input's index (the kept rows of a filter keep their labels)
and its columns' dtypes. A Dataset keeps its features for the input's columns.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from clearft.data.jsonl import read_json_lines
from clearft.errors import ClearftError, DataError

ROW_COL = "_clearft_row"  # a DataFrame row's position, carried through the file functions

RECORDS, PANDAS, DATASETS = "list of dicts", "DataFrame", "Dataset"


def kind_of(data: Any) -> str:
    """Which of the supported in-memory types `data` is, or a ClearftError naming them."""
    if isinstance(data, list):
        return RECORDS
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return PANDAS
    hf = sys.modules.get("datasets")
    if hf is not None and isinstance(data, hf.Dataset):
        return DATASETS
    if hf is not None and isinstance(data, hf.DatasetDict):
        raise ClearftError(f"got a DatasetDict with splits {list(data)}: pass one split, e.g. data['train']")
    raise ClearftError(
        "data must be a pandas DataFrame, a datasets.Dataset or a list of dicts, "
        f"not {type(data).__module__}.{type(data).__qualname__}; for a file use the file API "
        "(clearft.scoring.score_file, ...) or the CLI"
    )


def _plain(value: Any) -> Any:
    """pandas' missing values (NaN, NA, NaT) become None, as a JSONL reader would see them."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    pd = sys.modules.get("pandas")
    if pd is not None and pd.api.types.is_scalar(value):
        with contextlib.suppress(TypeError, ValueError):
            if pd.isna(value):
                return None
    return value


class Table:
    """The in-memory input of one API call: written out as JSONL, read back as its own type."""

    def __init__(self, data: Any, name: str = "data") -> None:
        self.data = data
        self.kind = kind_of(data)
        self.name = name  # the argument's name, for error messages
        self.path: Path | None = None
        if self.kind == PANDAS:
            self.columns = list(data.columns)
            bad = [c for c in self.columns if not isinstance(c, str)]
            if bad:
                raise ClearftError(f"{name}: column names must be text, got {bad[:3]}")
            if ROW_COL in self.columns:
                raise ClearftError(f"{name}: the column name {ROW_COL!r} is clearft's own; rename it")
        elif self.kind == DATASETS:
            self.columns = list(data.column_names)
        else:
            self.columns = []
            for i, row in enumerate(data):
                if not isinstance(row, Mapping):
                    raise ClearftError(f"{name}: item {i} is a {type(row).__name__}, not a dict")
                self.columns.extend(c for c in row if c not in self.columns)

    # -- to a file ------------------------------------------------------------------------
    def records(self) -> Iterator[dict[str, Any]]:
        if self.kind == PANDAS:
            for i, row in enumerate(self.data.to_dict(orient="records")):
                yield {**{k: _plain(v) for k, v in row.items()}, ROW_COL: i}
        elif self.kind == DATASETS:
            yield from self.data.to_list()
        else:
            for row in self.data:
                yield dict(row)

    def write(self, path: Path) -> Path:
        """Write the rows as JSONL to `path` (clearft's own writer, so values it cannot
        store natively, such as dates, become text as they would in any output file)."""
        from clearft.data import write_records

        write_records(path, self.records(), file_type="jsonl")
        self.path = path
        return path

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """A DataError about the temporary file is re-raised about the caller's data: its
        row (0-based position; a DataFrame's index label too) instead of the file's line."""
        try:
            yield
        except DataError as exc:
            if self.path is None or Path(exc.path) != self.path:
                raise
            raise _data_error(self, exc) from None

    # -- back from a file -------------------------------------------------------------------
    def read(self, path: Path, extra_columns: Sequence[str] = ()) -> Any:
        """The rows of the JSONL file at `path`, as the input's type. Columns: the input's
        own first (in its order), then those the file function added (in the file's order),
        or, for no rows, the input's and `extra_columns` (those the rows would have had)."""
        rows = read_json_lines(path) if path.exists() else []
        columns = _ordered(self.columns, rows, extra_columns)
        if self.kind == PANDAS:
            return self._to_pandas(rows, columns)
        if self.kind == DATASETS:
            return self._to_datasets(rows, columns)
        return rows

    def _to_pandas(self, rows: list[dict[str, Any]], columns: list[str]) -> Any:
        import pandas as pd

        try:
            positions = [int(r.pop(ROW_COL)) for r in rows]
        except KeyError:
            raise ClearftError(f"internal: a row lost its {ROW_COL} column on the way") from None
        columns = [c for c in columns if c != ROW_COL]
        frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        frame.index = self.data.index[positions]
        for col in self.columns:
            frame[col] = _like(frame[col], self.data[col].dtype)
        return frame

    def _to_datasets(self, rows: list[dict[str, Any]], columns: list[str]) -> Any:
        import datasets

        source = self.data.features
        if not rows:
            features = datasets.Features({c: source.get(c, datasets.Value("string")) for c in columns})
            return datasets.Dataset.from_dict({c: [] for c in columns}, features=features)
        table = {c: [r.get(c) for r in rows] for c in columns}
        try:
            out = datasets.Dataset.from_dict(table)
        except Exception:  # pyarrow cannot type a nested column whose values disagree
            for c in columns:
                if c not in self.columns and any(isinstance(v, (dict, list)) for v in table[c]):
                    table[c] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in table[c]]
            out = datasets.Dataset.from_dict(table)
        for col in self.columns:
            if col in out.column_names and out.features[col] != source[col]:
                with contextlib.suppress(Exception):  # e.g. a ClassLabel a corrected row left
                    out = out.cast_column(col, source[col])
        return out


def _ordered(own: Sequence[str], rows: list[dict[str, Any]], extra: Sequence[str]) -> list[str]:
    if not rows:
        return list(dict.fromkeys([*own, *extra]))
    found = dict.fromkeys(c for r in rows for c in r)
    return list(dict.fromkeys([*(c for c in own if c in found), *found]))


def _like(column: Any, dtype: Any) -> Any:
    """`column` as `dtype` where that loses nothing (a category a correction added, or a
    missing value in an integer column, keeps the inferred type instead)."""
    if column.dtype == dtype:
        return column
    try:
        cast = column.astype(dtype)
    except (TypeError, ValueError, OverflowError):
        return column
    return cast if int(cast.isna().sum()) == int(column.isna().sum()) else column


def _data_error(table: Table, exc: DataError) -> DataError:
    where = f"{table.name} (the {table.kind})"
    row = None if exc.line is None else exc.line - 1  # JSONL line n holds row n - 1
    if row is not None:
        where += f", row {row}"
        if table.kind == PANDAS and 0 <= row < len(table.data):
            where += f" (index {table.data.index[row]!r})"
    if exc.field:
        where += f", field '{exc.field}'"
    reason = "no rows" if exc.reason.startswith("the file is empty") else exc.reason
    err = DataError(where, None, None, reason)
    err.line, err.field = row, exc.field
    return err
