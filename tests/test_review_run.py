"""Review and apply on a directory `clearft run` really wrote (the loop with the fake stages
of tests/test_pipeline_run.py), where Auto-Correct refused every candidate."""

from __future__ import annotations

import json
from pathlib import Path

from clearft.cli.main import main
from clearft.correction import CorrectConfig
from clearft.data import open_dataset
from clearft.pipeline import RunConfig, run_pipeline
from clearft.review import build_queue

from .test_pipeline_run import FakeStages, data  # noqa: F401 - the fixture

TRUTH_OF = {"q1": "positive", "q3": "negative"}  # the two noisy rows and their right labels


def test_queue_and_apply_on_a_real_run_directory(tmp_path: Path, data) -> None:  # noqa: F811
    train, test = data
    run_dir = tmp_path / "run"
    cfg = RunConfig(backend="fake", candidate_backend="fake-candidates", correct=CorrectConfig(judge="llm", eta=1.0))
    run_pipeline(train, test, run_dir, cfg, toolkit=FakeStages().toolkit())
    assert (run_dir / "uncorrected.jsonl").is_file()
    rows = build_queue(run_dir, tmp_path / "q.html").rows
    assert sorted(r["prompt"] for r in rows) == ["q1", "q3"]  # the dropped, refused rows
    by_prompt = {r["prompt"]: r for r in rows}
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(
        json.dumps({"id": by_prompt["q1"]["id"], "decision": "edit", "new_target": TRUTH_OF["q1"]}) + "\n"
        + json.dumps({"id": by_prompt["q3"]["id"], "decision": "drop"}) + "\n", encoding="utf-8")
    assert main(["apply", str(decisions), "-o", str(tmp_path / "train.jsonl"), "--data", str(run_dir)]) == 0
    out = {ex.prompt_text: ex for ex in open_dataset(tmp_path / "train.jsonl")}
    assert sorted(out) == ["q1", "q2", "q4"]
    assert out["q1"].response == "positive" and out["q1"].record["clearft_original_response"] == "negative"
    assert "clearft_drop_reason" not in out["q1"].record
    [gone] = [ex.prompt_text for ex in open_dataset(tmp_path / "train.dropped.jsonl")]
    assert gone == "q3"
