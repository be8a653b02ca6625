"""The report on real data: FPB rows from ../shared/data, scored for real with the embedded
default model (slow), then shown with their sampled answers and reflections."""

from __future__ import annotations

import csv
import json
import re
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from clearft.data.jsonl import read_json_lines
from clearft.report import build_report


def fpb_slice(shared_data: Path, tmp_path: Path, n: int) -> Path:
    source = shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv"
    with source.open(encoding="utf-8", newline="") as f:
        rows = list(islice(csv.DictReader(f), n))
    out = tmp_path / "fpb.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_real_fpb_rows_show_their_text(shared_data: Path, tmp_path: Path) -> None:
    """Real records (multiple-choice CSV) with a placeholder score: prompt, options, target."""
    data = fpb_slice(shared_data, tmp_path, 8)
    with data.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    scored = tmp_path / "scored.csv"
    with scored.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*records[0], "id", "confidence", "clearft_method"])
        w.writeheader()
        for i, r in enumerate(records):
            w.writerow({**r, "id": f"fpb-{i}", "confidence": i / 8, "clearft_method": "placeholder"})
    payload = build_report([scored], tmp_path / "r.html").payload
    first = payload["rows"][0]
    assert "Pretax profit decreased by 37 %" in first["prompt"]
    assert first["target"] == records[0]["answer"] == "C"
    # the options are shown as the model sees them, lettered under the question, and as their column
    assert first["prompt"].endswith("\nA. negative\nB. neutral\nC. positive")
    assert first["other"] == {"options": records[0]["options"]}
    assert [r["confidence"] for r in payload["rows"]] == [i / 8 for i in range(8)]


@pytest.mark.slow
def test_report_of_rows_scored_by_the_default_model(shared_data: Path, tmp_path: Path,
                                                    default_backend: Any) -> None:
    from clearft.scoring import make_config, score_file

    data = fpb_slice(shared_data, tmp_path, 2)
    scored = tmp_path / "scored.jsonl"
    config = make_config("low", method="bsdetector", k=2, rounds=1, sample_max_tokens=24)
    score_file(data, scored, default_backend, config, progress=False)
    result = build_report([scored], tmp_path / "report.html")
    rows = result.payload["rows"]
    assert len(rows) == 2 and result.payload["methods"] == ["bsdetector"]
    scored_rows = [r for r in rows if r["confidence"] is not None]
    assert scored_rows, [r["error"] for r in rows]
    on_file = {r["id"]: r["confidence"] for r in read_json_lines(scored)}
    for r in scored_rows:
        assert r["confidence"] == on_file[r["id"]]  # the report shows the scored file's numbers
        assert len(r["samples"]) == 2 and all(s["text"] for s in r["samples"])
        assert r["reflections"] and r["reflections"][0]["verdict"] in {"A", "B", "C", "unknown"}
    assert result.payload["settings"]["backend"]["backend"] == "llamacpp"
    html = result.path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="clearft-data">(.*?)</script>', html, re.S)
    assert block is not None
    assert json.loads(block.group(1))["rows"][0]["samples"] == rows[0]["samples"]
