"""`clearft review`: which rows are queued, the page's safety, the Label Studio and Argilla exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main
from clearft.review import build_queue

from .test_report_fixtures import (
    XSS,
    evidence_corrected_record,
    run_dir,
    scored_record,
    write_jsonl,
)


def page_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html, re.S)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def test_run_queue_holds_the_refused_rows_most_useful_first(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    result = build_queue(d, tmp_path / "q.html", limit=3)
    refused = {r["id"] for r in map(json.loads, (d / "corrected.jsonl").read_text().splitlines())
               if not r["clearft_correction"]["replaced"]}
    ids = [r["id"] for r in result.rows]
    assert len(ids) == 3 and set(ids) <= refused and result.pool == len(refused)
    gains = [r["gain"] for r in result.rows]
    assert gains == sorted(gains, reverse=True)
    assert [r["id"] for r in page_data((tmp_path / "q.html").read_text())["rows"]] == ids


def test_candidates_carry_their_evidence(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [evidence_corrected_record(0, replaced=True),
                                              evidence_corrected_record(1, replaced=False)])
    [row] = build_queue(path, tmp_path / "q.html").rows
    assert row["id"] == "row-0001" and row["target"] == "negative" and row["reason"] == "evidence_not_confident"
    assert row["candidates"] == [{"text": "positive", "source": "evidence judge", "support": 0.55},
                                 {"text": "neutral", "source": "view classifier", "support": None}]
    assert ["confidence", "0.55"] in row["evidence"]


def hostile_file(tmp: Path) -> Path:
    records = []
    for i, bad in enumerate(XSS):
        rec = evidence_corrected_record(i, replaced=False)
        rec.update(prompt=bad, response=bad + " target", id=f"x{i}-{bad}")
        rec["clearft_correction"]["candidate"] = bad + " candidate"
        rec["clearft_correction"]["views"] = {bad: {"label": bad + " view", "prob": 0.3}}
        records.append(rec)
    return write_jsonl(tmp / "hostile.jsonl", records)


def test_xss_corpus_stays_data(tmp_path: Path) -> None:
    result = build_queue(hostile_file(tmp_path), tmp_path / "q.html", limit=100, title=XSS[1])
    html = (tmp_path / "q.html").read_text(encoding="utf-8")
    # The only <script elements are the page's own two; no markup from the data.
    assert html.lower().count("<script") == 2
    assert "<img" not in html and "<svg" not in html and "<iframe" not in html and "<!-- <" not in html
    assert "\u2028" not in html
    data = page_data(html)["rows"]
    assert len(data) == len(XSS) == len(result.rows)
    assert {r["prompt"] for r in data} == set(XSS)  # round-trips exactly
    assert "{{" not in html.split('id="review-data">')[0].replace("{{script}} {{data}}", "")


def test_exports_for_labelling_tools(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(3)])
    assert main(["review", str(path), "-o", str(tmp_path / "ls.json"), "--export", "label-studio", "--top", "2"]) == 0
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert len(tasks) == 2
    task = tasks[0]
    assert set(task["data"]) >= {"clearft_id", "prompt", "target", "confidence"}
    pred = task["predictions"][0]
    assert pred["result"][0] == {"from_name": "new_target", "to_name": "prompt", "type": "textarea",
                                 "value": {"text": ["positive"]}}
    assert main(["review", str(path), "-o", str(tmp_path / "ar.jsonl"), "--export", "argilla"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "ar.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and recs[0]["fields"]["target"] == "negative"
    assert recs[0]["suggestions"][0] == {"question_name": "new_target", "value": "positive", "score": 0.55,
                                         "agent": "clearft evidence judge"}


def test_csv_corrected_file_reads_its_json_and_numbers(tmp_path: Path) -> None:
    from .test_report_fixtures import write_csv

    path = write_csv(tmp_path / "c.csv", [evidence_corrected_record(i, replaced=i == 0) for i in range(3)])
    rows = build_queue(path, tmp_path / "q.html").rows
    assert [r["id"] for r in rows] == ["row-0001", "row-0002"]
    assert rows[0]["confidence"] == 0.01 * (37 % 100) and rows[0]["candidates"][0]["text"] == "positive"


def test_scored_file_without_corrections_queues_lowest_confidence(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [scored_record(i, confidence=i / 10) for i in range(10)])
    assert [r["id"] for r in build_queue(path, tmp_path / "q.html", limit=3).rows] == ["row-0000", "row-0001", "row-0002"]


@pytest.mark.parametrize("argv", [["--top", "0"], ["--top", "x"], ["--export", "excel"]])
def test_bad_options_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["review", str(tmp_path), "-o", str(tmp_path / "q.html"), *argv])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
