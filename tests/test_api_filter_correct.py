"""clearft.filter and clearft.correct on in-memory data: the file functions' rows, as the
input's type (fake backends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearft
from clearft.correction import CORRECTION_COL, ORIGINAL_COL, CorrectConfig, correct_file
from clearft.errors import ClearftError
from clearft.filtering import filter_file

from .test_api_score import as_kind, as_rows
from .test_correct_file import fine_tuned, truth_judge

SCORED = [{"id": str(i), "prompt": f"q{i}", "response": "x", "confidence": c}
          for i, c in enumerate([0.9, 0.1, 0.8, None, 0.3, 0.7])]
DROPPED = [
    {"id": "1", "prompt": "q1", "response": "negative", "confidence": 0.1},  # wrong: fixed
    {"id": "2", "prompt": "q2", "response": "negative", "confidence": 0.2},  # right already
    {"id": "3", "prompt": "q3", "response": "positive", "confidence": 0.3},  # wrong: fixed
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("kind", ["records", "pandas", "datasets"])
def test_filter_keeps_and_drops_what_filter_file_does(tmp_path: Path, kind: str) -> None:
    kept, dropped = clearft.filter(as_kind(SCORED, kind), fraction=0.4, return_dropped=True)
    filter_file(_jsonl(tmp_path / "s.jsonl", SCORED), tmp_path / "k.jsonl", fraction=0.4,
                dropped_path=tmp_path / "d.jsonl")
    want_kept, want_dropped = _read(tmp_path / "k.jsonl"), _read(tmp_path / "d.jsonl")
    assert [r["id"] for r in as_rows(kept, kind)] == [r["id"] for r in want_kept] == ["0", "2", "5"]
    got_dropped = as_rows(dropped, kind)
    assert [r["id"] for r in got_dropped] == [r["id"] for r in want_dropped] == ["1", "3", "4"]
    assert [r["clearft_drop_reason"] for r in got_dropped] == [r["clearft_drop_reason"] for r in want_dropped]
    assert all(r["clearft_keep"] is False for r in got_dropped)
    only_kept = clearft.filter(as_kind(SCORED, kind), fraction=0.4)
    assert type(only_kept) is type(kept) and len(only_kept) == 3


def test_filtered_dataframe_rows_keep_their_index_labels() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(SCORED, index=list("abcdef"))
    kept, dropped = clearft.filter(frame, threshold=0.5, keep_failed=True, return_dropped=True)
    assert kept.index.tolist() == ["a", "c", "d", "f"] and dropped.index.tolist() == ["b", "e"]
    assert kept["confidence"].dtype == frame["confidence"].dtype
    nothing = clearft.filter(frame, threshold=0.0, keep_failed=True, return_dropped=True)[1]
    assert len(nothing) == 0 and list(nothing.columns) == [*frame.columns, "clearft_keep", "clearft_drop_reason"]


def test_filter_needs_scores_and_one_cut() -> None:
    with pytest.raises(ClearftError, match="run `clearft score`"):
        clearft.filter([{"prompt": "a", "response": "b"}])
    with pytest.raises(ClearftError, match="not both"):
        clearft.filter(SCORED, threshold=0.5, fraction=0.5)


@pytest.mark.parametrize("kind", ["records", "pandas", "datasets"])
def test_correct_replaces_and_audits_as_correct_file(tmp_path: Path, kind: str) -> None:
    fixed, left = clearft.correct(as_kind(DROPPED, kind), candidate_backend=fine_tuned(), judge="llm",
                                  backend=truth_judge(), return_uncorrected=True, progress=False)
    correct_file(_jsonl(tmp_path / "d.jsonl", DROPPED), tmp_path / "c.jsonl", truth_judge(),
                 CorrectConfig(judge="llm"), candidate_backend=fine_tuned())
    want = _read(tmp_path / "c.jsonl")
    got = as_rows(fixed, kind)
    assert type(fixed) is type(left)
    assert [(r["id"], r["response"], r[ORIGINAL_COL]) for r in got] == \
        [(r["id"], r["response"], r[ORIGINAL_COL]) for r in want] == [("1", "positive", "negative"),
                                                                      ("3", "neutral", "positive")]
    assert [r[CORRECTION_COL]["reason"] for r in got] == ["replaced", "replaced"]
    assert [r["id"] for r in as_rows(left, kind)] == ["2"]
    if kind == "records":
        assert got == want


def test_correct_takes_the_judge_settings_and_a_context() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(DROPPED, index=[7, 8, 9])
    whole = pd.DataFrame([*DROPPED, {"id": "4", "prompt": "q4", "response": "positive", "confidence": 0.9}])
    fixed = clearft.correct(frame, candidate_backend=fine_tuned(), judge="llm", backend=truth_judge(),
                            context=whole, eta=0.99, progress=False)
    assert fixed.index.tolist() == [7, 9] and fixed["response"].tolist() == ["positive", "neutral"]
    with pytest.raises(ClearftError, match="unknown correction setting"):
        clearft.correct(DROPPED, judge="llm", backend=truth_judge(), etaa=0.9)
    with pytest.raises(ClearftError, match="eta must be in"):
        clearft.correct(DROPPED, judge="llm", backend=truth_judge(), eta=2.0)
    with pytest.raises(ClearftError, match="candidate"):  # the llm judge needs candidates
        clearft.correct(DROPPED, judge="llm", backend=truth_judge(), progress=False)
