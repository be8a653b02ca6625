"""Auto-Correct beyond the classifier: the estimator judge for free-text targets (its pure gate,
correct_file with the estimator's scores scripted, and the real model on GSM8K rows), and the
cross-fit fold model as a view of the evidence judge."""

from __future__ import annotations

import json

import pytest

import clearft.scoring
from clearft.backends.fake import FakeBackend
from clearft.correction import (
    CORRECTION_COL,
    ORIGINAL_COL,
    CorrectConfig,
    correct_file,
    label_views,
)
from clearft.correction import evidence as ev
from clearft.correction import free_text as ft
from clearft.data.example import Example
from clearft.scoring.result import ScoreResult


def test_final_answers_and_the_samples_majority():
    assert ft.answer_kind(["step one\n#### 12", "so\n#### 7"]) == "gsm8k"
    assert ft.answer_kind(['{"a": 1}', '{"b": [2]}']) == "json"
    assert ft.answer_kind(["a passage about cats", "another passage about dogs"]) is None
    assert ft.final_answer("48 / 2 = 24\n#### 24", "gsm8k") == "24"
    assert ft.final_answer('```json\n{"b": 1, "a": 2}\n```', "json") == '{"a": 2, "b": 1}'
    assert ft.final_answer("no json here", "json") is None
    assert ft.majority(["24", "24", "25"]) == "24"
    assert ft.majority(["24", "25", None, None]) is None  # unparsed samples count against
    assert ft.majority([]) is None


def test_the_gate_needs_confidence_a_better_score_and_the_samples_majority():
    sure = ["24", "24", "24", "7", None]
    assert ft.decide_text(0.2, 0.9, "24", sure, True, 0.8).replaced
    assert ft.decide_text(0.2, 0.9, "25", sure, True, 0.8).reason == ft.SAMPLES_DISAGREE
    assert ft.decide_text(0.2, 0.9, "24", ["24", "7", None], True, 0.8).reason == ft.SAMPLES_DISAGREE
    assert ft.decide_text(0.95, 0.9, "24", sure, True, 0.8).reason == ft.PREFERS_TARGET
    assert ft.decide_text(0.2, 0.75, "24", sure, True, 0.8).reason == ft.NOT_CONFIDENT
    assert ft.decide_text(0.2, None, "24", sure, True, 0.8).reason == ft.NO_SCORE
    # Nothing checkable (a passage): the estimator alone decides.
    assert ft.decide_text(0.2, 0.9, None, [None, None], False, 0.8).replaced


def gsm_rows():
    good = "She has 3 + 4 = 7 apples.\n#### 7"
    return [
        # The target is wrong; the candidate is right and the samples say 7.
        {"id": "a", "question": "Ann has 3 apples and gets 4. How many?", "answer": "2 * 5 = 10\n#### 10",
         "clearft_candidate": good},
        # The candidate is confident but the samples reached another answer: refused.
        {"id": "b", "question": "Bob has 9 pears and eats 2. How many?", "answer": "9 - 2 = 7\n#### 7",
         "clearft_candidate": "9 + 2 = 11\n#### 11"},
        # The candidate says what the target says: nothing to judge.
        {"id": "c", "question": "Cy has 1 fig.", "answer": "#### 1", "clearft_candidate": "#### 1"},
    ]


def scripted_scores(examples, backend, config, usage=None, similarity=None, method=None):
    """BSDetector replaced by a table: the samples depend on the row, never on its response."""
    samples = {"a": ["7", "7", "7", "6", None], "b": ["7", "7", "11", "7", "7"]}
    out = []
    for ex in examples:
        confidence = 0.95 if "7 apples" in ex.response or "#### 11" in ex.response else 0.3
        evidence = {"samples": [{"text": f"explanation: ..., answer: {a}", "answer": a} if a else
                                {"text": "???", "answer": None} for a in samples[ex.id]]}
        out.append(ScoreResult(ex.id, confidence, method="bsdetector", evidence=evidence))
    return out


def test_estimator_judge_on_a_file(tmp_path, monkeypatch):
    path = tmp_path / "gsm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in gsm_rows()))
    calls = []

    def recording(examples, *a, **kw):
        calls.append([(ex.id, ex.response) for ex in examples])
        return scripted_scores(examples, *a, **kw)

    monkeypatch.setattr(clearft.scoring, "score_examples", recording)
    out = tmp_path / "fixed.jsonl"
    summary = correct_file(path, out, FakeBackend(), CorrectConfig(), all_rows=True)
    assert summary.settings["judge"] == "estimator"
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    rows.update({r["id"]: r for r in map(json.loads, (tmp_path / "fixed.uncorrected.jsonl").read_text().splitlines())})
    assert rows["a"]["answer"].endswith("#### 7") and rows["a"][ORIGINAL_COL].endswith("#### 10")
    audit = rows["a"][CORRECTION_COL]
    assert audit["judge"] == "estimator" and audit["reason"] == "replaced"
    assert audit["target_confidence"] == 0.3 and audit["candidate_confidence"] == 0.95
    assert audit["majority_answer"] == "7" and audit["candidate_answer"] == "7"
    assert rows["b"]["answer"].endswith("#### 7") and rows["b"][CORRECTION_COL]["reason"] == ft.SAMPLES_DISAGREE
    assert rows["c"][CORRECTION_COL]["reason"] == "candidate_same"
    # Target and candidate of a row are scored side by side, under the row's own id.
    assert calls == [[("a", gsm_rows()[0]["answer"]), ("a", gsm_rows()[0]["clearft_candidate"]),
                      ("b", gsm_rows()[1]["answer"]), ("b", gsm_rows()[1]["clearft_candidate"])]]
    assert summary.replaced == 1 and summary.reasons[ft.SAMPLES_DISAGREE] == 1


def test_the_fold_model_view_comes_from_the_cross_fit_evidence():
    options = "Which?\nA. negative\nB. neutral\nC. positive"
    ex = Example("r1", [{"role": "user", "content": options}], "A",
                 record={"clearft_evidence": json.dumps({"fold": 1, "label_probs": {"A": 0.1, "B": 0.2, "C": 0.7}})})
    assert label_views.fold_model_view(ex) == {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    plain = Example("r2", [{"role": "user", "content": "x"}], "A", record={"clearft_evidence": {"samples": []}})
    assert label_views.fold_model_view(plain) is None  # not a cross-fit row
    views = {ev.CLASSIFIER: {"negative": 0.2, "neutral": 0.1, "positive": 0.7},
             ev.FOLD_MODEL: label_views.fold_model_view(ex)}
    decision = ev.decide_label("negative", views, 0.65)
    assert decision.replaced and decision.label == "positive" and decision.confidence == pytest.approx(0.7)
    assert set(decision.views) == {ev.CLASSIFIER, ev.FOLD_MODEL}


def test_correct_file_weighs_the_fold_model_with_the_classifier(tmp_path, monkeypatch):
    labels = ["negative", "neutral", "positive"]
    rows = [{"id": str(i), "prompt": f"headline {i}", "response": labels[i % 3],
             "clearft_evidence": {"fold": i % 2, "label_probs": {c: 1 / 3 for c in labels}}} for i in range(12)]
    rows[0]["clearft_evidence"] = {"fold": 0, "label_probs": {"negative": 0.05, "neutral": 0.05, "positive": 0.9}}
    rows[3]["clearft_evidence"] = {"fold": 1, "label_probs": {"negative": 0.05, "neutral": 0.9, "positive": 0.05}}
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def scripted(context, **kw):
        out = {ex.id: {c: 1 / 3 for c in labels} for ex in context}
        out["0"] = out["3"] = {"negative": 0.1, "neutral": 0.1, "positive": 0.8}
        return out, {"rows": len(context)}

    monkeypatch.setattr(label_views, "classifier_posteriors", scripted)
    out = tmp_path / "fixed.jsonl"
    correct_file(path, out, None, CorrectConfig(eta=0.8, gate="probability"), all_rows=True)
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    got.update({r["id"]: r for r in map(json.loads, (tmp_path / "fixed.uncorrected.jsonl").read_text().splitlines())})
    # Both views sure of "positive": replaced. The fold model says neutral: the views split.
    assert got["0"]["response"] == "positive" and got["0"][CORRECTION_COL]["views"]["fold_model"]["prob"] == 0.9
    assert got["3"]["response"] == "negative" and got["3"][CORRECTION_COL]["reason"] == ev.NOT_CONFIDENT


@pytest.mark.slow
def test_real_estimator_judge_on_gsm8k_rows(tmp_path):
    """The default model scores target and candidate of two real GSM8K rows (preset low, to
    stay short): both confidences and the samples' answers are in the audit, the samples are
    shared (the candidate's scoring asked the cache, not the model, for them), and a candidate
    whose answer the samples do not reach is not accepted."""
    from pathlib import Path

    from clearft.backends.cache import open_backend

    src = Path(__file__).resolve().parent / "fixtures" / "data" / "gsm8k_2.jsonl"
    gsm = [json.loads(line) for line in src.read_text().splitlines()]
    rows = [{"id": f"g{i}", "question": r["question"], "answer": r["answer"],
             "clearft_candidate": gsm[1 - i]["answer"]} for i, r in enumerate(gsm)]  # swapped solutions
    path = tmp_path / "gsm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    backend = open_backend("llamacpp", cache=str(tmp_path / "calls.sqlite"))
    config = CorrectConfig(estimator_preset="low", candidate_max_tokens=64)
    try:
        summary = correct_file(path, tmp_path / "fixed.jsonl", backend, config, all_rows=True)
    finally:
        backend.close()
    written = [json.loads(line) for name in ("fixed.uncorrected.jsonl", "fixed.jsonl")
               for line in (tmp_path / name).read_text().splitlines()]
    audits = [r[CORRECTION_COL] for r in written]
    assert summary.settings["judge"] == "estimator" and len(audits) == 2
    candidate_of = {r["id"]: r["clearft_candidate"] for r in rows}
    for record, audit in zip(written, audits, strict=True):
        assert isinstance(audit["target_confidence"], float) and isinstance(audit["candidate_confidence"], float)
        assert len(audit["sample_answers"]) == 3  # preset low: k = 3
        # the candidate's final answer is read from its solution, and the gate, recomputed from
        # the audit's numbers, gives the decision the row records
        assert audit["candidate_answer"] == ft.final_answer(candidate_of[record["id"]], "gsm8k")
        assert audit["majority_answer"] == ft.majority(audit["sample_answers"])
        decision = ft.decide_text(audit["target_confidence"], audit["candidate_confidence"], audit["candidate_answer"],
                                  audit["sample_answers"], True, config.eta_for(ft.ESTIMATOR))
        assert (audit["replaced"], audit["reason"]) == (decision.replaced, decision.reason)
        if audit["replaced"]:
            assert audit["candidate_answer"] == audit["majority_answer"]
