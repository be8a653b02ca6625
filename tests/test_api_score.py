"""clearft.score on a list of dicts, a DataFrame and a Dataset: the same type back, the same
scores as score_file on the same rows, errors about the caller's rows (fake backend)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import clearft
from clearft.backends.fake import FakeBackend
from clearft.errors import ClearftError, DataError
from clearft.scoring import make_config, score_file

from .test_scoring_file import recomputed_confidence, responder

SETTINGS = {"method": "bsdetector", "similarity": "exact", "batch_size": 3}
ROWS = [{"id": f"r{i}", "prompt": f"Question {i}?", "response": "A" if i % 2 else f"text {i}", "n": i}
        for i in range(8)]


def fake() -> FakeBackend:
    return FakeBackend(responder=responder, logprobs=False)


def as_kind(rows: list[dict], kind: str):  # type: ignore[no-untyped-def]
    if kind == "pandas":
        pd = pytest.importorskip("pandas")
        return pd.DataFrame(rows)
    if kind == "datasets":
        datasets = pytest.importorskip("datasets")
        return datasets.Dataset.from_list(rows)
    return [dict(r) for r in rows]


def as_rows(data, kind: str) -> list[dict]:  # type: ignore[no-untyped-def]
    if kind == "pandas":
        return data.to_dict(orient="records")
    if kind == "datasets":
        return data.to_list()
    return data


def file_scores(tmp_path: Path, rows: list[dict]) -> list[dict]:
    src = tmp_path / "file-in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "file-out.jsonl"
    score_file(src, out, fake(), make_config(**SETTINGS), progress=False)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_import_clearft_imports_no_heavy_library() -> None:
    code = ("import sys, clearft\n"
            "heavy = ('torch', 'pandas', 'datasets', 'numpy', 'pyarrow', 'transformers', 'xllamacpp', 'yaml')\n"
            "before = [m for m in heavy if m in sys.modules]\n"
            "clearft.score, clearft.filter, clearft.correct, clearft.curate\n"
            "after = [m for m in heavy if m in sys.modules]\n"
            "import json; print(json.dumps([before, after]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], []]


def test_the_api_names_are_listed_and_unknown_names_fail() -> None:
    assert {"score", "filter", "correct", "curate"} <= set(dir(clearft))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clearft.nope  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("kind", ["records", "pandas", "datasets"])
def test_score_returns_the_input_type_with_the_file_api_scores(tmp_path: Path, kind: str) -> None:
    data = as_kind(ROWS, kind)
    scored = clearft.score(data, backend=fake(), progress=False, **SETTINGS)  # type: ignore[arg-type]
    assert type(scored) is type(data)
    got = as_rows(scored, kind)
    want = file_scores(tmp_path, ROWS)
    assert [r["id"] for r in got] == [r["id"] for r in want]
    assert [r["confidence"] for r in got] == [r["confidence"] for r in want]
    assert [r["consistency"] for r in got] == [r["consistency"] for r in want]
    assert list(got[0]) == list(want[0])  # the output file's columns, in its order
    if kind != "datasets":  # Arrow gives every struct the union of the rows' keys
        assert got == want
    assert as_rows(data, kind) == ROWS  # the input is left alone


def test_a_dataframe_keeps_its_index_column_order_and_dtypes() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"n": [3, 1, 2], "response": ["A", "B", "A"], "prompt": ["x?", "y?", "z?"],
                          "tag": pd.Categorical(["u", "v", "u"])}, index=pd.Index([10, 20, 30], name="k"))
    scored = clearft.score(frame, backend=fake(), progress=False, **SETTINGS)
    assert list(scored.columns[:4]) == ["n", "response", "prompt", "tag"]
    assert list(scored.columns[4:6]) == ["id", "confidence"]
    assert scored.index.equals(frame.index) and scored.index.name == "k"
    assert (scored.dtypes[:4] == frame.dtypes).all()
    assert scored["confidence"].dtype == "float64"


def test_explicit_columns_as_in_the_cli() -> None:
    rows = [{"text": f"q{i}", "label": "pos" if i % 2 else "neg"} for i in range(4)]
    scored = clearft.score(rows, backend=fake(), prompt_col="text", response_col="label", progress=False,
                           **SETTINGS)
    assert [r["label"] for r in scored] == ["neg", "pos", "neg", "pos"]
    # the same rows under the default column names get the same ids, evidence and scores
    named = clearft.score([{"prompt": r["text"], "response": r["label"]} for r in rows], backend=fake(),
                          progress=False, **SETTINGS)
    keys = ("id", "confidence", "clearft_evidence")
    assert [[r[k] for k in keys] for r in scored] == [[r[k] for k in keys] for r in named]
    config = make_config(**SETTINGS)
    assert all(r["confidence"] == pytest.approx(recomputed_confidence(r, config)) for r in scored)
    with pytest.raises(DataError, match="cannot tell the record format"):
        clearft.score(rows, backend=fake(), progress=False, **SETTINGS)


def test_a_backend_by_name_like_the_cli() -> None:
    scored = clearft.score(ROWS[:2], backend="fake", model="m1", method="self-reflection", progress=False)
    assert [r["clearft_method"] for r in scored] == ["self-reflection"] * 2


def test_a_bad_row_is_named_by_its_position_and_index() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"prompt": ["a?", "b?", "c?"], "response": ["x", None, "z"]}, index=["p", "q", "r"])
    with pytest.raises(DataError) as err:
        clearft.score(frame, backend=fake(), progress=False, **SETTINGS)
    message = str(err.value)
    assert message.startswith("data (the DataFrame), row 1 (index 'q'), field 'response'"), message
    assert "clearft-api" not in message  # the temporary file is not the caller's business


def test_chat_messages_in_a_dataframe_and_no_rows_at_all() -> None:
    pd = pytest.importorskip("pandas")
    chats = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in [("hi", "hello"), ("2+2?", "4")]]
    frame = pd.DataFrame({"messages": chats, "weight": [1.5, None]})
    scored = clearft.score(frame, backend=fake(), progress=False, **SETTINGS)
    assert scored["messages"].tolist() == chats and scored["weight"].isna().tolist() == [False, True]
    with pytest.raises(DataError, match=r"^data \(the list of dicts\): no rows$"):
        clearft.score([], backend=fake())


def test_skipped_rows_leave_the_result_and_the_index_still_lines_up() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"prompt": ["a?", "b?", "c?"], "response": ["x", None, "z"]}, index=["p", "q", "r"])
    scored = clearft.score(frame, backend=fake(), on_error="skip", progress=False, **SETTINGS)
    assert scored.index.tolist() == ["p", "r"] and scored["response"].tolist() == ["x", "z"]


def test_wrong_arguments_fail_with_one_clear_error() -> None:
    with pytest.raises(ClearftError, match="unknown scoring setting"):
        clearft.score(ROWS, backend=fake(), samples=3)
    with pytest.raises(ClearftError, match="a pandas DataFrame, a datasets.Dataset or a list of dicts"):
        clearft.score("data.jsonl")  # type: ignore[arg-type]
    with pytest.raises(ClearftError, match="item 1 is a str"):
        clearft.score([{"prompt": "a", "response": "b"}, "c"])
    with pytest.raises(ClearftError, match="go with a backend name"):
        clearft.score(ROWS, backend=fake(), model="x")
