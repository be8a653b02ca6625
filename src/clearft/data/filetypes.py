"""File types clearft reads and writes, and telling them from a path."""

from __future__ import annotations

from pathlib import Path

from clearft.errors import DataError

FILE_TYPES = ("jsonl", "json", "csv", "parquet", "hf")

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# Files that `datasets.Dataset.save_to_disk` / `DatasetDict.save_to_disk` leave in the folder.
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def first_char(path: Path) -> str:
    """The first non-blank character of a file (after a UTF-8 byte-order mark)."""
    with open(path, "rb") as f:
        while chunk := f.read(4096):
            text = chunk.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if text:
                return chr(text[0])
    return ""


def detect_file_type(path: str | Path, *, must_exist: bool = True) -> str:
    """jsonl, json, csv, parquet or hf, from the suffix (or a `datasets` folder).

    A ``.json`` file that starts with ``{`` is JSON Lines in disguise (common for OpenAI
    fine-tuning files), so it is read as jsonl. Output paths need not exist
    (``must_exist=False``): a suffix-less output path is taken as an hf folder.
    """
    p = Path(path)
    if p.is_dir():
        if any((p / m).exists() for m in HF_MARKERS):
            return "hf"
        raise DataError(str(p), None, None,
                        "a folder, but not one written by datasets' save_to_disk "
                        f"(none of {', '.join(HF_MARKERS)} in it)")
    if must_exist and not p.exists():
        raise DataError(str(p), None, None, "no such file")
    kind = SUFFIXES.get(p.suffix.lower())
    if kind == "json" and p.exists() and first_char(p) == "{":
        return "jsonl"
    if kind is not None:
        return kind
    if not must_exist and not p.suffix:
        return "hf"
    raise DataError(str(p), None, None,
                    f"cannot tell the file type from the name '{p.name}'; "
                    f"pass --file-type ({', '.join(FILE_TYPES)})")


def check_file_type(file_type: str, path: str | Path) -> str:
    if file_type not in FILE_TYPES:
        raise DataError(str(path), None, None,
                        f"unknown file type '{file_type}'; choose one of {', '.join(FILE_TYPES)}")
    return file_type
