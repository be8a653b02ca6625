"""Writers: atomic (a failure mid-write leaves the old file whole), every column kept, file type
from the suffix, CSV cells for lists and objects."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearft.data import detect_file_type, open_dataset, write_records
from clearft.errors import ClearftError, DataError


def records_then_crash(n: int) -> Iterator[dict[str, str]]:
    for i in range(n):
        yield {"prompt": f"p{i}", "response": f"r{i}"}
    raise KeyboardInterrupt  # as if the user pressed Ctrl-C half-way


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", ""])
def test_interrupted_write_keeps_the_old_file(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out{suffix}"
    write_records(target, [{"prompt": "old", "response": "kept"}])
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(KeyboardInterrupt):
        write_records(target, records_then_crash(50))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temp file left behind
    assert [ex.response for ex in open_dataset(target)] == ["kept"]


def test_write_replaces_and_counts(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.jsonl"  # parent folders are created
    assert write_records(target, [{"prompt": "a", "response": "b"}] * 3) == 3
    assert write_records(target, [{"prompt": "c", "response": "d"}]) == 1
    assert [json.loads(line) for line in target.read_text().splitlines()] == [{"prompt": "c", "response": "d"}]


def test_csv_cells_for_lists_objects_numbers_and_nulls(tmp_path: Path) -> None:
    target = tmp_path / "o.csv"
    write_records(target, [{"prompt": "p", "response": "r", "tags": ["x", "é"], "meta": {"k": 1},
                            "n": 3, "f": 0.5, "flag": True, "none": None}])
    with open(target, encoding="utf-8", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row == {"prompt": "p", "response": "r", "tags": '["x", "é"]', "meta": '{"k": 1}',
                   "n": "3", "f": "0.5", "flag": "true", "none": ""}


def test_csv_header_widens_for_columns_that_appear_later(tmp_path: Path) -> None:
    target = tmp_path / "w.csv"
    write_records(target, [{"prompt": "p1", "response": "r1"},
                           {"prompt": "p2", "response": "r2", "note": "late"}])
    with open(target, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"prompt": "p1", "response": "r1", "note": ""},
                    {"prompt": "p2", "response": "r2", "note": "late"}]


def test_parquet_rejects_columns_it_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ClearftError, match="new columns"):
        write_records(tmp_path / "p.parquet", iter([{"a": "x"}] * 10_001 + [{"a": "x", "b": "y"}]))
    assert not (tmp_path / "p.parquet").exists()


def test_empty_write_gives_valid_empty_files(tmp_path: Path) -> None:
    for name in ["e.jsonl", "e.json", "e.csv", "e.parquet"]:
        assert write_records(tmp_path / name, []) == 0
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "e.json").read_text()) == []


def test_detect_file_type(tmp_path: Path) -> None:
    assert detect_file_type("x.JSONL", must_exist=False) == "jsonl"
    assert detect_file_type("x.ndjson", must_exist=False) == "jsonl"
    assert detect_file_type("x.pq", must_exist=False) == "parquet"
    assert detect_file_type(tmp_path / "new_folder", must_exist=False) == "hf"
    disguised = tmp_path / "openai.json"  # JSON Lines under a .json name
    disguised.write_text('\ufeff{"prompt": "p", "response": "r"}\n{"prompt": "q", "response": "s"}\n')
    assert detect_file_type(disguised) == "jsonl"
    assert open_dataset(disguised).validate() == 2
    plain = tmp_path / "list.json"
    plain.write_text('  [{"prompt": "p", "response": "r"}]')
    assert detect_file_type(plain) == "json"
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="save_to_disk"):
        detect_file_type(tmp_path / "folder")


def test_hf_folder_written_and_read(tmp_path: Path) -> None:
    target = tmp_path / "hfdata"
    records = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
                "id": f"r{i}"} for i in range(5)]
    assert write_records(target, records) == 5
    ds = open_dataset(target)
    assert (ds.file_type, ds.format.name, ds.id_col) == ("hf", "messages", "id")
    assert [ex.response for ex in ds] == [f"a{i}" for i in range(5)]
    write_records(target, records[:2])  # replacing an existing folder
    assert open_dataset(target).validate() == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hfdata"]


def test_hf_dataset_dict_uses_train_split(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"question": "q", "answer": "a"}]),
        "test": datasets.Dataset.from_list([{"question": "q2", "answer": "a2"}] * 2),
    })
    dd.save_to_disk(str(tmp_path / "dd"))
    assert [ex.response for ex in open_dataset(tmp_path / "dd")] == ["a"]


def test_unwritable_and_unreadable_paths_are_clear_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ClearftError, match="cannot write"):
        write_records(blocker / "out.jsonl", [{"prompt": "p", "response": "r"}])  # parent is a file
    folder_named_jsonl = tmp_path / "data.jsonl"
    folder_named_jsonl.mkdir()
    (folder_named_jsonl / "state.json").write_text("{}")
    with pytest.raises(DataError):
        open_dataset(folder_named_jsonl, file_type="jsonl")


def test_a_page_written_atomically_gets_the_umask_permissions_not_mkstemps(tmp_path):
    import os

    from clearft.data.writers import write_text_atomic

    page = tmp_path / "sub" / "page.html"
    assert write_text_atomic(page, "<p>é</p>") == len("<p>é</p>".encode())
    umask = os.umask(0)
    os.umask(umask)
    assert page.read_text(encoding="utf-8") == "<p>é</p>" and page.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in page.parent.iterdir()] == ["page.html"]  # no temporary file left
