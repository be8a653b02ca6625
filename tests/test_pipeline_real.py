"""The whole loop for real with the default model on a small FPB slice (slow; CI runs it).

One short fine-tune step per model keeps it to a few minutes on 2 cores; what it proves is
that the stages fit together on real data and models, not that accuracy improves."""

from __future__ import annotations

import csv
import json

import pytest

pytestmark = pytest.mark.slow


def slice_csv(src, dst, rows):
    with open(src, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        records = [r for _, r in zip(range(rows), reader, strict=False)]
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0]))
        w.writeheader()
        w.writerows(records)


def test_the_whole_loop_runs_for_real_and_resumes(tmp_path, shared_data):
    from clearft.correction import CorrectConfig
    from clearft.pipeline import RunConfig, run_pipeline

    fpb = shared_data / "robustft" / "fpb"
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    slice_csv(fpb / "noisy" / "noisy30.csv", train, 16)
    slice_csv(fpb / "test.csv", test, 4)
    config = RunConfig(
        finetune={"max_steps": 1, "batch_size": 4, "grad_accum": 1},
        correct=CorrectConfig(samples=2, explain=False),
        progress=False,
    )
    run_dir = tmp_path / "run"
    summary = run_pipeline(train, test, run_dir, config)

    assert set(summary["accuracy"]) == {"untuned", "filtered", "corrected"}
    for label, res in summary["accuracy"].items():
        # the summary's accuracy is the mean over the evaluation file's rows, each judged
        rows = json.loads((run_dir / f"eval_{label}.json").read_text())["rows"]
        assert res["n"] == 4 == len(rows) and all(r["correct"] in (0.0, 1.0) for r in rows)
        assert res["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 4)
    for name in ["scored.csv", "kept.csv", "dropped.csv", "candidates.csv", "corrected.csv",
                 "uncorrected.csv", "eval_corrected.json", "summary.json"]:
        assert (run_dir / name).exists(), name
    assert (run_dir / "model_corrected" / "config.json").exists()
    with open(run_dir / "candidates.csv", newline="", encoding="utf-8") as f:
        cands = list(csv.DictReader(f))
    assert len(cands) == 8  # the dropped half
    # every candidate is fitted to the file's format: an option letter, or no candidate and why
    for c in cands:
        if c["clearft_candidate_error"]:
            assert c["clearft_candidate"] == "", c
        else:
            assert c["clearft_candidate"] in {"A", "B", "C"}, c
    correct = summary["corrections"]["correct"]
    assert correct["replaced"] + correct["left_out"] == 8
    with open(run_dir / "uncorrected.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            audit = json.loads(row["clearft_correction"])
            assert audit["reason"] != "replaced"
            assert ("views" if audit["judge"] == "evidence" else "verdicts") in audit

    # Run again: every stage is recorded as done, nothing is redone, the summary is the same.
    again = run_pipeline(train, test, run_dir, config)
    assert again["accuracy"] == summary["accuracy"]
    assert again["stages"] == summary["stages"]
