"""Read then write an unchanged dataset gives back the same records: real data in every record
format, stored in every file type. Written targets drop back in the user's own format."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearft.data import FILE_TYPES, open_dataset, write_records

N = 30  # rows per record format: enough to mix shapes, small enough to stay fast
SUFFIX = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "parquet": ".parquet", "hf": ""}
BANK_PROMPT = "Classify the intent of this banking customer query. Query: {}\nIntent:"


def read_raw(path: Path, file_type: str) -> list[dict[str, Any]]:
    """An independent reader (not clearft's) to compare files with."""
    if file_type == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    if file_type == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if file_type == "csv":
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    if file_type == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import datasets

    return datasets.load_from_disk(str(path)).to_list()


def as_csv(record: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in record.items()}


# ---------------------------------------------------------------- real records, one set per format


def banking(data: Path) -> list[dict[str, str]]:
    with open(data / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[:: len(rows) // N][:N]


def gsm8k(data: Path) -> list[dict[str, str]]:
    with open(data / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(N)]


def mc_rows(data: Path, task: str) -> list[dict[str, str]]:
    with open(data / "robustft" / task / "noisy" / "noisy30.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))[:N]


def meta(i: int, source: str) -> dict[str, Any]:
    return {"meta": {"source": source, "row": i}, "tags": [source, "real"]}


RECORD_SETS: dict[str, tuple[Callable[[Path], list[dict[str, Any]]], dict[str, str]]] = {
    "prompt-response": (lambda d: [{"id": f"b{i}", "prompt": BANK_PROMPT.format(r["text"]),
                                    "response": r["category"], **meta(i, "banking77")}
                                   for i, r in enumerate(banking(d))], {}),
    "prompt-completion": (lambda d: [{"prompt": r["question"], "completion": r["answer"]}
                                     for r in gsm8k(d)], {}),
    "prompt-completion-chat": (lambda d: [
        {"prompt": [{"role": "user", "content": r["question"]}],
         "completion": [{"role": "assistant", "content": r["answer"]}]} for r in gsm8k(d)],
        {"format": "prompt-completion"}),
    "question-answer": (gsm8k, {}),
    "multiple-choice": (lambda d: mc_rows(d, "arc"), {}),
    "multiple-choice-native": (lambda d: [{**r, "options": json.loads(r["options"])}
                                          for r in mc_rows(d, "fpb")], {"format": "multiple-choice"}),
    "alpaca": (lambda d: [{"instruction": "Classify the intent of this banking customer query.",
                           "input": r["text"], "output": r["category"]} for r in banking(d)]
               + [{"instruction": r["question"], "input": "", "output": r["answer"]} for r in gsm8k(d)], {}),
    "messages": (lambda d: [{"messages": [
        {"role": "system", "content": "Answer with the intent label only."},
        {"role": "user", "content": r["text"]}, {"role": "assistant", "content": r["category"]}]}
        for r in banking(d)] + [{"messages": [
            {"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}]}
            for r in gsm8k(d)], {}),
    "sharegpt": (lambda d: [{"id": f"g{i}", "conversations": [
        {"from": "human", "value": r["question"]}, {"from": "gpt", "value": r["answer"]}]}
        for i, r in enumerate(gsm8k(d))], {}),
    "columns": (banking, {"prompt_col": "text", "response_col": "category"}),
}


def new_target(fmt: str, i: int) -> str:
    return "ABC"[i % 3] if fmt == "multiple-choice" else f"corrected {i}"


@pytest.mark.parametrize("file_type", FILE_TYPES)
@pytest.mark.parametrize("record_set", sorted(RECORD_SETS))
def test_real_data_round_trips(shared_data: Path, tmp_path: Path, record_set: str, file_type: str) -> None:
    make, options = RECORD_SETS[record_set]
    records = make(shared_data)
    source = tmp_path / f"source{SUFFIX[file_type]}"
    assert write_records(source, records, file_type=file_type) == len(records)

    written = read_raw(source, file_type)
    if file_type == "csv":
        assert written == [as_csv(r) for r in records]  # lists and objects become JSON text
    else:
        assert written == records

    ds = open_dataset(source, file_type=file_type, **options)  # type: ignore[arg-type]
    assert ds.file_type == file_type
    assert ds.format.name == options.get("format", record_set.split("-native")[0]
                                         if record_set != "prompt-completion-chat" else "prompt-completion")
    examples = list(ds)
    assert len(examples) == len(records)

    # Unchanged: the same records come back, every column kept.
    copy = tmp_path / f"copy{SUFFIX[file_type]}"
    write_records(copy, (ex.record for ex in examples), file_type=file_type)
    assert read_raw(copy, file_type) == written

    # Changed targets land where the format keeps them; prompts, ids and extras stay.
    fixed = tmp_path / f"fixed{SUFFIX[file_type]}"
    write_records(fixed, (ds.with_response(ex, new_target(ds.format.name, i))
                          for i, ex in enumerate(examples)), file_type=file_type)
    again = list(open_dataset(fixed, file_type=file_type, **options))  # type: ignore[arg-type]
    assert [ex.response for ex in again] == [new_target(ds.format.name, i) for i in range(len(records))]
    assert [ex.messages for ex in again] == [ex.messages for ex in examples]
    if ds.id_col:
        assert [ex.id for ex in again] == [ex.id for ex in examples]
    target = ds.format.target_field
    for before, after in zip(written, read_raw(fixed, file_type), strict=True):
        assert {k: v for k, v in before.items() if k != target} == {k: v for k, v in after.items() if k != target}


def test_content_ids_do_not_depend_on_the_file_type(shared_data: Path, tmp_path: Path) -> None:
    records = RECORD_SETS["messages"][0](shared_data)
    ids = []
    for file_type in FILE_TYPES:
        path = tmp_path / f"m{SUFFIX[file_type]}"
        write_records(path, records, file_type=file_type)
        ids.append([ex.id for ex in open_dataset(path, file_type=file_type)])
    assert all(i == ids[0] for i in ids)
    assert len(set(ids[0])) == len(records)


def test_shared_files_round_trip_as_they_are(shared_data: Path, tmp_path: Path) -> None:
    for source, options in [
        (shared_data / "robustft" / "arc" / "noisy" / "noisy30.csv", {}),
        (shared_data / "robustft" / "fpb" / "labeled.csv", {}),
        (shared_data / "banking77" / "test.csv", {"prompt_col": "text", "response_col": "category"}),
        (shared_data / "gsm8k" / "test.jsonl", {}),
    ]:
        file_type = "csv" if source.suffix == ".csv" else "jsonl"
        ds = open_dataset(source, **options)  # type: ignore[arg-type]
        out = tmp_path / source.name
        count = write_records(out, (ex.record for ex in ds))
        assert count == len(read_raw(source, file_type))
        assert read_raw(out, file_type) == read_raw(source, file_type)


@pytest.mark.parametrize("file_type", ["jsonl", "json", "csv"])
def test_fixture_files_round_trip(tmp_path: Path, file_type: str) -> None:
    """The same check without ../shared: the hand-written fixtures of each format."""
    fixtures = Path(__file__).resolve().parent / "fixtures" / "data"
    for name in ["alpaca.json", "messages.jsonl", "sharegpt.jsonl", "prompt_completion.jsonl",
                 "multiple_choice.csv"]:
        ds = open_dataset(fixtures / name)
        out = tmp_path / f"{Path(name).stem}.{file_type}"
        write_records(out, (ex.record for ex in ds), file_type=file_type)
        expected = [ex.record for ex in ds]
        if file_type == "csv":  # one header for all: a column a record lacks is left empty
            columns = list(dict.fromkeys(k for r in expected for k in r))
            expected = [{c: "" for c in columns} | as_csv(r) for r in expected]
        assert read_raw(out, file_type) == expected, name


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extras=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES), min_size=1, max_size=4),
       texts=st.lists(TEXT.filter(lambda t: t.strip() != ""), min_size=8, max_size=8),
       file_type=st.sampled_from(["jsonl", "json"]))
def test_any_extra_columns_survive_json(tmp_path: Path, extras: list[dict[str, Any]], texts: list[str],
                                        file_type: str) -> None:
    records = [{"prompt": texts[i], "response": texts[i + 4], **extra} for i, extra in enumerate(extras)]
    path = tmp_path / f"x.{file_type}"
    write_records(path, records)
    copy = tmp_path / f"y.{file_type}"
    write_records(copy, (ex.record for ex in open_dataset(path)))
    assert read_raw(copy, file_type) == records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT.filter(lambda t: t.strip() != "" and "\x00" not in t), min_size=2, max_size=6))
def test_any_text_survives_csv(tmp_path: Path, texts: list[str]) -> None:
    records = [{"prompt": t, "response": t[::-1] or "r"} for t in texts]
    path = tmp_path / "x.csv"
    write_records(path, records)
    assert [(ex.messages[0]["content"], ex.response) for ex in open_dataset(path)] == [
        (r["prompt"], r["response"]) for r in records]
