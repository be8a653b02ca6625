"""A user's dataset file as a stream of Examples, checked before any model is called.

``open_dataset`` works out the file type and the record format (both overridable) from the
path and the columns, and checks what it can from the header alone. Iterating streams the
records; a bad record either stops the run with a DataError naming file, line and field
(``on_error="raise"``) or goes, with its reason, to a side file of rejects and is counted
(``on_error="skip"``). No record is ever dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from clearft.data.example import Example
from clearft.data.filetypes import check_file_type, detect_file_type
from clearft.data.formats import FieldProblem, RecordFormat, resolve_format
from clearft.data.ids import KeyIndex, content_id, id_from_column, id_key
from clearft.data.readers import BadRow, Row, peek_columns, read_items
from clearft.data.writers import json_default
from clearft.errors import DataError

ON_ERROR = ("raise", "skip")
HEADER_FILE_TYPES = ("csv", "parquet", "hf")  # every row has every column of the header


class RejectSink:
    """The side file of rejected records, opened on the first reject and flushed per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def write(self, bad: BadRow) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        entry = {"line": bad.line, "field": bad.field, "reason": bad.reason, "raw": bad.raw}
        self._file.write(json.dumps(entry, ensure_ascii=False, default=json_default) + "\n")
        self._file.flush()

    @property
    def opened(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Dataset:
    """One input file (or `datasets` folder) in one record format. Iterate it for Examples."""

    def __init__(self, path: Path, file_type: str, format: RecordFormat, columns: list[str],
                 id_col: str | None, on_error: str, rejects_path: Path | None) -> None:
        self.path = path
        self.file_type = file_type
        self.format = format
        self.columns = columns  # the header, schema, or the first record's keys
        self.id_col = id_col  # None: ids are content hashes
        self.on_error = on_error
        self.rejects_path = rejects_path  # set when on_error == "skip"
        self.rejected = 0  # records rejected in the current (or last) pass

    def __repr__(self) -> str:
        return f"<Dataset {self.path} {self.file_type} {self.format.name}>"

    def __iter__(self) -> Iterator[Example]:
        self.rejected = 0
        sink = RejectSink(self.rejects_path) if self.rejects_path is not None else None
        seen = KeyIndex()  # 8 bytes an id: memory stays small as files grow
        repeats: dict[str, int] = {}  # content ids seen more than once -> count
        first_lines: dict[str, int] | None = None  # id -> first line, built on a duplicate
        finished = False
        try:
            for item in read_items(self.path, self.file_type):
                if isinstance(item, BadRow):
                    self._reject(item, sink)
                    continue
                try:
                    example = self._example(item)
                except FieldProblem as problem:
                    self._reject(BadRow(item.line, problem.field, problem.reason, item.record), sink)
                    continue
                if seen.add(id_key(example.id)):
                    if self.id_col is not None:
                        # A key match. Confirm it and find the earlier line with one extra
                        # pass over the file, made only when a file has a duplicate at all.
                        if first_lines is None:
                            first_lines = self._first_lines()
                        first = first_lines.get(example.id)
                        if first is not None and first < item.line:
                            self._reject(BadRow(item.line, self.id_col,
                                                f"duplicate id '{example.id}' (first on line {first})",
                                                item.record), sink)
                            continue
                    else:
                        # The same prompt and response twice is not a format error: number the
                        # repeats so every example keeps a distinct, stable id.
                        count = repeats.get(example.id, 1) + 1
                        repeats[example.id] = count
                        example.id = f"{example.id}-{count}"
                yield example
            finished = True
        finally:
            if sink is not None:
                sink.close()
                if finished and not sink.opened and self.rejects_path is not None:
                    # A clean pass: a rejects file left by an earlier run would mislead.
                    self.rejects_path.unlink(missing_ok=True)

    def _example(self, row: Row) -> Example:
        messages, response = self.format.parse(row.record)
        if self.id_col is not None:
            ex_id = id_from_column(row.record, self.id_col)
        else:
            ex_id = content_id(messages, response)
        return Example(id=ex_id, messages=messages, response=response, record=row.record, line=row.line)

    def _first_lines(self) -> dict[str, int]:
        first: dict[str, int] = {}
        for item in read_items(self.path, self.file_type):
            if isinstance(item, Row) and self.id_col is not None:
                try:
                    first.setdefault(id_from_column(item.record, self.id_col), item.line)
                except FieldProblem:
                    continue
        return first

    def _reject(self, bad: BadRow, sink: RejectSink | None) -> None:
        if sink is None:
            raise DataError(str(self.path), bad.line, bad.field, bad.reason)
        self.rejected += 1
        sink.write(bad)

    def validate(self) -> int:
        """One full pass: the number of good records (raises, or rejects, on bad ones)."""
        return sum(1 for _ in self)

    def with_response(self, example: Example, new_response: str) -> dict[str, Any]:
        """The example's record with its target replaced, in the dataset's own format."""
        return self.format.with_response(example.record, new_response)


def default_rejects_path(path: Path) -> Path:
    # The current directory, not beside the input: input folders may be read-only.
    return Path.cwd() / f"{path.stem if path.is_file() else path.name}.rejected.jsonl"


def open_dataset(
    path: str | Path,
    *,
    format: str | None = None,
    file_type: str | None = None,
    prompt_col: str | None = None,
    response_col: str | None = None,
    id_col: str | None = None,
    on_error: str = "raise",
    rejects_path: str | Path | None = None,
) -> Dataset:
    """Open a dataset for streaming; file type and record format are detected unless given.

    Raises DataError for what is wrong with the file as a whole (missing, empty, unknown
    type, no recognisable format, a header lacking the needed columns)."""
    p = Path(path)
    if on_error not in ON_ERROR:
        raise DataError(str(p), None, None, f"on_error must be 'raise' or 'skip', not '{on_error}'")
    if not p.exists():
        raise DataError(str(p), None, None, "no such file")
    kind = check_file_type(file_type, p) if file_type else detect_file_type(p)
    columns = peek_columns(p, kind)
    try:
        fmt = resolve_format(format, columns, prompt_col, response_col)
    except ValueError as exc:
        raise DataError(str(p), None, None, str(exc)) from None
    if id_col is None and "id" in columns:
        id_col = "id"
    if kind in HEADER_FILE_TYPES:
        needed = [*fmt.required, *([id_col] if id_col else [])]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise DataError(str(p), None, missing[0],
                            f"no such column (format '{fmt.name}' needs {', '.join(needed)}; "
                            f"the file has {', '.join(columns)})")
    rejects: Path | None = None
    if on_error == "skip":
        rejects = Path(rejects_path) if rejects_path is not None else default_rejects_path(p)
    return Dataset(p, kind, fmt, columns, id_col, on_error, rejects)
