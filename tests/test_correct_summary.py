"""The summary `clearft correct` prints at the end: replacements, then the rows left alone
counted by reason (the reason names of the clearft_correction audit column)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.cli.correct_cmd import reasons_line
from clearft.cli.main import main

LABELS = ["negative", "neutral", "positive"]


def test_reasons_line_counts_replacements_then_refusals_by_reason() -> None:
    line = reasons_line({"replaced": 2, "candidate_not_a_label": 3, "evidence_not_confident": 3,
                         "evidence_supports_target": 5})
    assert line == ("reasons: replaced 2; not replaced 11 (evidence_supports_target 5, "
                    "candidate_not_a_label 3, evidence_not_confident 3)")
    assert reasons_line({"judge_not_confident": 1}) == "reasons: replaced 0; not replaced 1 (judge_not_confident 1)"
    assert reasons_line({"replaced": 4}) == "reasons: replaced 4; not replaced 0"
    assert reasons_line({}) == "reasons: none (no row was considered)"


def test_correct_prints_the_evidence_judges_reasons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from clearft.correction import label_views

    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "prompt": f"headline {i}", "response": LABELS[i % 3]}) + "\n"
                            for i in range(12)))

    def scripted(context, **kw):  # the classifier view, without embedding anything
        out = {ex.id: {c: 1 / 3 for c in LABELS} for ex in context}  # a tie: the target stands
        out["0"] = {"negative": 0.01, "neutral": 0.01, "positive": 0.98}  # sure: replaced
        out["1"] = {"negative": 0.3, "neutral": 0.2, "positive": 0.5}  # not sure enough
        return out, {"rows": len(context)}

    monkeypatch.setattr(label_views, "classifier_posteriors", scripted)
    assert main(["correct", str(data), "-o", str(tmp_path / "fixed.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 of 12 rows replaced by the evidence judge (12 rows read, 0 low)")
    assert lines[1] == ("reasons: replaced 1; not replaced 11 (evidence_supports_target 10, "
                        "evidence_not_confident 1)")
