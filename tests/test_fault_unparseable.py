"""Unparseable model output (issue 7): reflection and judge replies without the expected
letter or answer are counted as unknown, shown in the report, and never taken as a verdict:
fake backend end to end through score -> report, and through correct."""

from __future__ import annotations

import json

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.correction import CorrectConfig, correct_file
from clearft.correction.verdicts import JUDGE_UNKNOWN
from clearft.data import write_records
from clearft.report import build_report
from clearft.scoring import make_config, score_file

from .test_correct_file import fine_tuned, truth_judge

# Replies that look like answers but choose nothing: no "answer:", a letter outside A-C,
# a word, an empty string, a fenced block with only an explanation.
GARBAGE = ["", "I think the proposed answer is fine.", "answer: D", "answer: maybe",
           "```\nexplanation: hard to say\n```", "Absolutely, without a doubt."]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_unparseable_reflections_are_unknown_through_score_and_report(tmp_path):
    rows = [{"id": f"r{i}", "prompt": f"Question {i}?", "response": f"answer {i}"} for i in range(12)]
    data = tmp_path / "data.jsonl"
    write_records(data, rows)
    garbled = {f"Question {i}?" for i in range(0, 12, 2)}  # every other row never parses

    def reply(req: GenerateRequest, i: int) -> str:
        text = req.messages[-1]["content"]
        if any(q in text for q in garbled):
            return GARBAGE[(len(text) + i) % len(GARBAGE)]
        return "explanation: it is right. answer: A"

    backend = FakeBackend(responder=reply, logprobs=False)  # letters are read from the text
    out = tmp_path / "scored.jsonl"
    config = make_config("base", method="bsdetector")
    summary = score_file(data, out, backend, config, progress=False)

    scored = {r["id"]: r for r in read_jsonl(out)}
    assert len(scored) == 12
    for i in range(12):
        r = scored[f"r{i}"]
        if f"Question {i}?" in garbled:
            assert r["confidence"] is None and r["self_reflection"] is None  # no verdict invented
            assert "no parseable model output" in r["clearft_error"]
            assert r["clearft_evidence"]["unknown"] == 1
            # re-asked, then given up: every raw reply kept for the report
            reflection = r["clearft_evidence"]["reflections"][0]
            assert reflection["verdict"] == "unknown" and reflection["attempts"] == config.max_retries + 1
        else:
            assert r["confidence"] == 1.0 and r["clearft_error"] is None
    assert summary.unknown_outputs == 6 and summary.failed == 6
    assert any("6 unparseable outputs counted as unknown" in line for line in summary.lines())

    report = build_report([out], tmp_path / "report.html")
    assert report.payload["counts"]["unknown_outputs"] == 6
    assert report.payload["counts"]["errors"] == 6
    html = report.path.read_text(encoding="utf-8")
    assert "6 unparsed model outputs (counted as unknown)" in html


def test_an_unparseable_judge_never_replaces_a_target(tmp_path):
    data = tmp_path / "dropped.jsonl"
    # q1 and q3 carry wrong labels: a judge that answers would replace them (the control).
    write_records(data, [{"id": "1", "prompt": "q1", "response": "negative", "confidence": 0.1},
                         {"id": "3", "prompt": "q3", "response": "positive", "confidence": 0.3}])
    control = correct_file(data, tmp_path / "control.jsonl", truth_judge(), CorrectConfig(judge="llm"),
                           candidate_backend=fine_tuned())
    assert control.replaced == 2

    garbage_judge = FakeBackend(responder=lambda req, i: GARBAGE[i % len(GARBAGE)], logprobs=False)
    out = tmp_path / "corrected.jsonl"
    summary = correct_file(data, out, garbage_judge, CorrectConfig(judge="llm"), candidate_backend=fine_tuned())
    assert summary.replaced == 0
    assert summary.reasons == {JUDGE_UNKNOWN: 2}
    left = read_jsonl(tmp_path / "corrected.uncorrected.jsonl")
    assert [r["response"] for r in left] == ["negative", "positive"]  # targets untouched
    for r in left:
        audit = r["clearft_correction"]
        assert audit["replaced"] is False and audit["unknown"] > 0
        # No verdict parsed: no preference and no confidence are recorded (nothing guessed).
        assert audit["preference"] is None and audit["judge_confidence"] is None
