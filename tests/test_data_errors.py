"""Bad input: each problem is a DataError naming file, line and field (on_error="raise"), or a
counted reject with its reason in the side file (on_error="skip"). Never another exception."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearft.data import open_dataset, write_records
from clearft.errors import DataError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


def first_error(path: Path, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        open_dataset(path, **kwargs).validate()  # type: ignore[arg-type]
    return info.value


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"prompt": "p", "response": "r"})


@pytest.mark.parametrize(
    ("second_line", "field", "reason"),
    [
        ('{"prompt": "p2", "response": ', None, "malformed JSON"),
        ('["p", "r"]', None, "expected a JSON object, got a list"),
        ('{"prompt": "p2"}', "response", "missing"),
        ('{"prompt": "p2", "response": ""}', "response", "empty"),
        ('{"prompt": 42, "response": "r2"}', "prompt", "expected text, got a number"),
        ('{"prompt": "p2", "response": {"text": "r"}}', "response", "expected text, got an object"),
    ],
)
def test_jsonl_record_errors_name_file_line_field(tmp_path: Path, second_line: str,
                                                  field: str | None, reason: str) -> None:
    path = write_lines(tmp_path / "data.jsonl", GOOD, "", second_line)  # a blank line between
    err = first_error(path)
    assert err.path == str(path)
    assert err.line == 3
    assert err.field == field
    assert reason in err.reason
    assert str(path) in str(err) and "line 3" in str(err)


def test_messages_not_a_list_and_not_alternating(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "chat.jsonl",
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}),
        json.dumps({"messages": "q then a"}),
    )
    err = first_error(path)
    assert (err.line, err.field) == (2, "messages") and "expected a list" in err.reason
    path = write_lines(
        tmp_path / "chat2.jsonl",
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
                                 {"role": "assistant", "content": "a"}]}),
    )
    err = first_error(path)
    assert (err.line, err.field) == (1, "messages") and "alternate" in err.reason


def test_non_utf8_bytes_are_reported_per_line() -> None:
    err = first_error(FIXTURES / "bad_utf8.jsonl")
    assert err.line == 2 and "not valid UTF-8" in err.reason and "0xef" in err.reason


def test_non_utf8_in_csv_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"prompt,response\nok,fine\n\"multi\nline\",caf\xe9\n")
    err = first_error(path)
    assert (err.line, err.field) == (3, "response") and "UTF-8" in err.reason


def test_csv_ragged_row() -> None:
    err = first_error(FIXTURES / "ragged.csv", prompt_col="text", response_col="category")
    assert err.line == 3 and "ragged row: 3 fields where the header has 2" in err.reason


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.jsonl", b""), ("e.jsonl", b"\n  \n"), ("e.json", b"[]"), ("e.json", b"  "),
     ("e.csv", b""), ("e.csv", b"prompt,response\n")],
)
def test_empty_files(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty|no rows|no readable record") as info:
        open_dataset(path, format="prompt-response").validate()
    assert info.value.path == str(path)


def test_empty_parquet(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"prompt": pa.array([], pa.string()), "response": pa.array([], pa.string())}), path)
    with pytest.raises(DataError, match="empty"):
        open_dataset(path).validate()


def test_parquet_missing_column_is_caught_at_open(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"prompt": ["a"], "answer": ["b"]}), path)
    with pytest.raises(DataError) as info:
        open_dataset(path, format="prompt-response")
    assert info.value.field == "response" and "no such column" in info.value.reason


def test_csv_missing_explicit_columns(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.csv", "text,category", "a,b")
    with pytest.raises(DataError) as info:
        open_dataset(path, prompt_col="text", response_col="label")
    assert info.value.field == "label"
    with pytest.raises(DataError) as info:
        open_dataset(path, prompt_col="text", response_col="category", id_col="uid")
    assert info.value.field == "uid"


def test_undetectable_format_says_what_to_pass(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.csv", "text,category", "a,b")
    with pytest.raises(DataError, match="--prompt-col"):
        open_dataset(path)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        open_dataset(tmp_path / "nope.jsonl")
    odd = write_lines(tmp_path / "data.txt", GOOD)
    with pytest.raises(DataError, match="--file-type"):
        open_dataset(odd)
    assert open_dataset(odd, file_type="jsonl").validate() == 1
    with pytest.raises(DataError, match="unknown file type"):
        open_dataset(odd, file_type="xml")


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "fake.parquet", GOOD)
    with pytest.raises(DataError, match="not a readable Parquet file"):
        open_dataset(path)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('[\n{"prompt": "p", "response": "r"},\n{"prompt": "p2" "response": "r"}\n]', 3, "malformed JSON"),
        ('[\n{"prompt": "p", "response": "r"}\n', 2, "not closed"),
        ('{"rows": []}', None, None),  # an object on top: read as JSON Lines, no format found
    ],
)
def test_broken_json_document(tmp_path: Path, text: str, line: int | None, reason: str | None) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        open_dataset(path, format="prompt-response").validate()
    if line is not None:
        assert info.value.line == line and reason in info.value.reason


def test_json_list_lines_point_at_each_object(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_records(path, [{"prompt": f"p{i}", "response": "r"} for i in range(3)])
    assert [ex.line for ex in open_dataset(path)] == [2, 3, 4]
    path.write_text('[{"prompt": "a", "response": "r"},\n\n  {"prompt": "b", "response": 7}]')
    err = first_error(path)
    assert (err.line, err.field) == (3, "response")


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "dup.jsonl",
        json.dumps({"id": "a", "prompt": "p1", "response": "r"}),
        json.dumps({"id": "b", "prompt": "p2", "response": "r"}),
        json.dumps({"id": "a", "prompt": "p3", "response": "r"}),
    )
    err = first_error(path)
    assert (err.line, err.field) == (3, "id") and "duplicate id 'a' (first on line 1)" in err.reason


def test_ids_from_column_content_hash_and_numbered_repeats(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "same.jsonl", GOOD, GOOD, json.dumps({"prompt": "x", "response": "y"}), GOOD)
    ids = [ex.id for ex in open_dataset(path)]
    assert len(ids[0]) == 16 and int(ids[0], 16) >= 0
    assert ids[1] == ids[0] + "-2" and ids[3] == ids[0] + "-3"
    assert len(set(ids)) == 4
    assert ids == [ex.id for ex in open_dataset(path)]  # stable across passes
    numbered = write_lines(tmp_path / "num.jsonl", json.dumps({"id": 7, "prompt": "p", "response": "r"}))
    assert [ex.id for ex in open_dataset(numbered)] == ["7"]
    other = write_lines(tmp_path / "other.jsonl", json.dumps({"key": "k1", "prompt": "p", "response": "r"}))
    assert [ex.id for ex in open_dataset(other, id_col="key")] == ["k1"]
    bad = write_lines(tmp_path / "badid.jsonl", json.dumps({"id": "", "prompt": "p", "response": "r"}))
    assert first_error(bad).field == "id"


def test_errors_come_while_streaming_not_before(tmp_path: Path) -> None:
    """Iteration is lazy: the good first record arrives before the broken last line is read."""
    path = write_lines(tmp_path / "s.jsonl", GOOD, "{broken")
    it = iter(open_dataset(path))
    assert next(it).response == "r"
    with pytest.raises(DataError):
        next(it)


# ---------------------------------------------------------------- on_error="skip"


def test_skip_rejects_to_side_file_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ds = open_dataset(FIXTURES / "mixed_errors.jsonl", on_error="skip")
    assert ds.rejects_path == tmp_path / "mixed_errors.rejected.jsonl"
    good = list(ds)
    assert [ex.line for ex in good] == [1, 6]
    assert ds.rejected == 4
    rejects = [json.loads(line) for line in ds.rejects_path.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(2, None), (3, "response"), (4, "response"), (5, "prompt")]
    assert "malformed JSON" in rejects[0]["reason"] and rejects[0]["raw"].startswith('{"prompt": "What is 2+2?"')
    assert rejects[3]["raw"] == {"prompt": 5, "response": "five"}
    # A second pass starts the side file afresh: the same 4 rejects, not 8.
    assert ds.validate() == 2 and ds.rejected == 4
    assert len(ds.rejects_path.read_text().splitlines()) == 4


def test_skip_removes_a_stale_rejects_file_after_a_clean_pass(tmp_path: Path) -> None:
    rejects = tmp_path / "r.jsonl"
    rejects.write_text('{"line": 1}\n')
    ds = open_dataset(FIXTURES / "messages.jsonl", on_error="skip", rejects_path=rejects)
    assert ds.validate() == 2 and ds.rejected == 0
    assert not rejects.exists()


def test_skip_covers_bytes_ragged_rows_and_duplicates(tmp_path: Path) -> None:
    ds = open_dataset(FIXTURES / "bad_utf8.jsonl", on_error="skip", rejects_path=tmp_path / "r1.jsonl")
    assert ds.validate() == 2 and ds.rejected == 1
    reject = json.loads((tmp_path / "r1.jsonl").read_text())
    assert reject["line"] == 2 and "\\xef" in reject["raw"]
    ds = open_dataset(FIXTURES / "ragged.csv", prompt_col="text", response_col="category",
                      on_error="skip", rejects_path=tmp_path / "r2.jsonl")
    assert ds.validate() == 1 and ds.rejected == 1
    path = write_lines(tmp_path / "dup.jsonl", *[json.dumps({"id": "x", "prompt": f"p{i}", "response": "r"})
                                                for i in range(3)])
    ds = open_dataset(path, on_error="skip", rejects_path=tmp_path / "r3.jsonl")
    assert [ex.line for ex in ds] == [1] and ds.rejected == 2


def test_bad_on_error_value(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="on_error"):
        open_dataset(FIXTURES / "messages.jsonl", on_error="ignore")


# ---------------------------------------------------------------- fuzz: nothing but DataError

SUFFIXES = [".jsonl", ".json", ".csv"]
FRAGMENTS = [b'{"prompt": "p", "response": "r"}\n', b'{"messages": [', b"prompt,response\n",
             b'"a","b"\n', b"\xff\xfe", b"[", b"]", b",", b"\n", b'"', b"{}", b'{"prompt": 1}\n',
             b'[{"prompt": "p", "response": "r"}]', b"caf\xc3\xa9", b"\r\n", b"null", b"\x00"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=8)), max_size=12),
       suffix=st.sampled_from(SUFFIXES), skip=st.booleans())
def test_garbage_input_raises_only_data_errors(tmp_path: Path, parts: list[bytes], suffix: str,
                                               skip: bool) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(b"".join(parts))
    try:
        ds = open_dataset(path, format="prompt-response", on_error="skip" if skip else "raise",
                          rejects_path=tmp_path / "fuzz.rejected.jsonl")
        good = ds.validate()
    except DataError as exc:
        assert exc.path == str(path)
        return
    ids = [ex.id for ex in ds]  # a second pass reads the same good records, each with its own id
    assert len(ids) == good == len(set(ids))
    rejects = tmp_path / "fuzz.rejected.jsonl"
    if not skip:
        assert ds.rejected == 0  # raise mode rejects nothing silently
    elif ds.rejected:
        assert rejects.read_text(encoding="utf-8").count("\n") == ds.rejected  # one line a reject
    else:
        assert not rejects.exists()  # a clean pass leaves no rejects file


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["role", "content", "from", "value", "x"]), inner, max_size=3),
    max_leaves=8,
)
COLUMNS = ["prompt", "response", "completion", "question", "answer", "options", "instruction",
           "input", "output", "messages", "conversations", "id"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(st.sampled_from(COLUMNS), JSON_VALUES, min_size=1), min_size=1,
                        max_size=4),
       fmt=st.sampled_from(["prompt-response", "prompt-completion", "question-answer",
                            "multiple-choice", "alpaca", "messages", "sharegpt"]))
def test_odd_json_records_raise_only_data_errors(tmp_path: Path, records: list[dict], fmt: str) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    try:
        open_dataset(path, format=fmt).validate()
    except DataError as exc:
        assert exc.path == str(path) and exc.line is not None


def test_many_ids_and_many_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the index's merge size (so its sorted-array half is used), duplicates still found."""
    import clearft.data.ids as ids

    monkeypatch.setattr(ids, "MERGE_EVERY", 64)
    lines = [json.dumps({"id": f"r{i}", "prompt": f"p{i}", "response": "r"}) for i in range(500)]
    lines += [json.dumps({"id": f"r{i}", "prompt": "again", "response": "r"}) for i in (3, 250, 3)]
    path = write_lines(tmp_path / "many.jsonl", *lines)
    ds = open_dataset(path, on_error="skip", rejects_path=tmp_path / "rej.jsonl")
    assert ds.validate() == 500 and ds.rejected == 3
    rejects = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ["duplicate id 'r3' (first on line 4)",
                                              "duplicate id 'r250' (first on line 251)",
                                              "duplicate id 'r3' (first on line 4)"]
    same = write_lines(tmp_path / "same.jsonl", *[GOOD] * 300)  # content ids, numbered repeats
    ids_seen = [ex.id for ex in open_dataset(same)]
    assert len(set(ids_seen)) == 300 and ids_seen[-1].endswith("-300")


def test_key_index_is_a_set() -> None:
    from clearft.data.ids import KeyIndex

    index = KeyIndex()
    keys = [(i * 2654435761) % 2**63 - 2**62 for i in range(200_000)]
    assert not any(index.add(k) for k in keys)
    assert all(index.add(k) for k in keys[::997])
    assert len(index) == 200_000
