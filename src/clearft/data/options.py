"""How a data file is read: the CLI's --format, --file-type, --prompt-col, --response-col,
--id-col and --on-error, as one object passed from a command (or an API call) down to every
reader, instead of a dict each reader filtered again."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from clearft.data.dataset import Dataset, open_dataset


@dataclass(frozen=True)
class DataOptions:
    """Every field None means "not given": open_dataset's default (detect, or "raise")."""

    format: str | None = None
    file_type: str | None = None
    prompt_col: str | None = None
    response_col: str | None = None
    id_col: str | None = None
    on_error: str | None = None  # "raise" (None) or "skip": a bad record is counted and set aside

    def to_dict(self) -> dict[str, Any]:
        """The options given, as open_dataset's keywords and as a run's settings record them
        (only those given, so a run's recorded settings stay what they were as a dict)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def open(self, path: str | Path, rejects_path: str | Path | None = None) -> Dataset:
        return open_dataset(path, **self.to_dict(), rejects_path=rejects_path)
