"""`clearft apply`: each decision kind, the audit trail, the side file, bad decision files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main

from .test_report_fixtures import evidence_corrected_record, run_dir, write_jsonl


def dataset(tmp: Path, n: int = 5) -> Path:
    return write_jsonl(tmp / "data.jsonl", [{"id": f"r{i}", "prompt": f"p{i}", "response": f"t{i}", "n": i}
                                            for i in range(n)])


def decisions(tmp: Path, lines: list[Any]) -> Path:
    p = tmp / "decisions.jsonl"
    p.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return p


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_each_decision_kind_with_audit_trail(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    dec = decisions(tmp_path, [
        {"id": "r0", "decision": "keep", "reviewer": "ann", "decided_at": "2026-12-04T10:00:00Z"},
        {"id": "r1", "decision": "replace", "new_target": "c1", "reviewer": "ann", "decided_at": "t1"},
        {"id": "r2", "decision": "edit", "new_target": "edited\n2"},
        {"id": "r3", "decision": "drop", "reviewer": "bob", "decided_at": "t3"},
    ])
    assert main(["apply", str(dec), "-o", str(tmp_path / "out.jsonl"), "--data", str(data)]) == 0
    out = read(tmp_path / "out.jsonl")
    dropped = read(tmp_path / "out.dropped.jsonl")
    assert [r["id"] for r in out] == ["r0", "r1", "r2", "r4"] and [r["id"] for r in dropped] == ["r3"]
    by = {r["id"]: r for r in out}
    assert by["r0"]["response"] == "t0" and by["r0"]["clearft_original_response"] is None
    assert by["r0"]["clearft_review"] == {"decision": "keep", "reviewer": "ann", "decided_at": "2026-12-04T10:00:00Z"}
    assert by["r1"]["response"] == "c1" and by["r1"]["clearft_original_response"] == "t1"
    assert by["r2"]["response"] == "edited\n2" and by["r2"]["clearft_original_response"] == "t2"
    assert by["r2"]["clearft_review"]["reviewer"] is None
    # Untouched, with the audit columns empty (every row has every column, as Auto-Correct writes)
    assert by["r4"] == {"id": "r4", "prompt": "p4", "response": "t4", "n": 4,
                        "clearft_review": None, "clearft_original_response": None}
    assert dropped[0]["clearft_keep"] is False and dropped[0]["clearft_drop_reason"] == "review: dropped"
    assert dropped[0]["clearft_review"]["reviewer"] == "bob" and dropped[0]["response"] == "t3"


def test_original_of_an_auto_corrected_row_is_kept(tmp_path: Path) -> None:
    rec = evidence_corrected_record(0, replaced=True)  # negative -> positive by Auto-Correct
    data = write_jsonl(tmp_path / "c.jsonl", [rec])
    dec = decisions(tmp_path, [{"id": rec["id"], "decision": "replace", "new_target": "neutral"}])
    assert main(["apply", str(dec), "-o", str(tmp_path / "o.jsonl"), "--data", str(data)]) == 0
    [out] = read(tmp_path / "o.jsonl")
    assert out["response"] == "neutral" and out["clearft_original_response"] == "negative"


def test_format_and_file_type_kept_messages_and_csv(tmp_path: Path) -> None:
    chat = [{"id": "m0", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "old"}]}]
    data = write_jsonl(tmp_path / "chat.jsonl", chat)
    dec = decisions(tmp_path, [{"id": "m0", "decision": "edit", "new_target": "new"}])
    assert main(["apply", str(dec), "-o", str(tmp_path / "o.csv"), "--data", str(data)]) == 0
    with (tmp_path / "o.csv").open(encoding="utf-8", newline="") as f:
        [row] = list(csv.DictReader(f))
    messages = json.loads(row["messages"])
    assert messages[-1] == {"role": "assistant", "content": "new"} and row["clearft_original_response"] == "old"
    assert json.loads(row["clearft_review"])["decision"] == "edit"


def test_parquet_keeps_the_audit_columns_of_later_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    data = dataset(tmp_path, n=3)
    dec = decisions(tmp_path, [{"id": "r1", "decision": "edit", "new_target": "x", "reviewer": "ann"},
                               {"id": "r2", "decision": "drop"}])
    assert main(["apply", str(dec), "-o", str(tmp_path / "o.parquet"), "--data", str(data)]) == 0
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert rows[0]["clearft_review"] is None and rows[1]["response"] == "x"
    assert rows[1]["clearft_original_response"] == "t1" and rows[1]["clearft_review"]["reviewer"] == "ann"
    assert [r["id"] for r in pq.read_table(tmp_path / "o.dropped.parquet").to_pylist()] == ["r2"]


def test_run_directory_brings_back_left_out_rows(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    kept = read(d / "kept.jsonl")
    left = [r for r in read(d / "corrected.jsonl") if not r["clearft_correction"]["replaced"]]
    dec = decisions(tmp_path, [{"id": left[0]["id"], "decision": "replace", "new_target": "neutral"},
                               {"id": left[1]["id"], "decision": "drop"},
                               {"id": kept[0]["id"], "decision": "drop"}])
    assert main(["apply", str(dec), "-o", str(tmp_path / "o.jsonl"), "--data", str(d)]) == 0
    out = {r["id"]: r for r in read(tmp_path / "o.jsonl")}
    assert len(out) == len(kept) - 1 + 1
    back = out[left[0]["id"]]
    assert back["response"] == "neutral" and "clearft_drop_reason" not in back
    assert {r["id"] for r in read(tmp_path / "o.dropped.jsonl")} == {left[1]["id"], kept[0]["id"]}


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2: not valid JSON"),
    ("[1]", "line 2: each line must be a JSON object"),
    ('{"decision": "keep"}', "line 2, field 'id': missing"),
    ('{"id": "r1", "decision": "maybe"}', "line 2, field 'decision': must be one of keep, replace, edit, drop"),
    ('{"id": "r1", "decision": "replace"}', "line 2, field 'new_target'"),
    ('{"id": "nope", "decision": "keep"}', "line 2, field 'id': no row with id 'nope'"),
])
def test_bad_decision_line_is_one_line_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           line: str, message: str) -> None:
    data = dataset(tmp_path)
    dec = decisions(tmp_path, [{"id": "r0", "decision": "keep"}, line])
    out = tmp_path / "out.jsonl"
    assert main(["apply", str(dec), "-o", str(out), "--data", str(data)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(dec) in err and message in err
    assert not out.exists()  # nothing half-written
