"""Auto-Correct over files: the replace rule, audit columns, what stays out (fake backends)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.correction import CORRECTION_COL, ORIGINAL_COL, CorrectConfig, correct_file
from clearft.correction.correct import correct_examples
from clearft.data import Example

from .test_correct_judge import candidate_judge, letter_for

# The fine-tuned model "knows" the right labels.
TRUTH = {"q1": "positive", "q2": "negative", "q3": "neutral", "q4": "positive"}


def fine_tuned() -> FakeBackend:
    return FakeBackend(responder=lambda req, i: TRUTH[req.messages[-1]["content"]])


def truth_judge() -> FakeBackend:
    """Prefers whichever response is the true label; sure of it."""

    def reply(req: GenerateRequest, i: int) -> str:
        text = req.messages[-1]["content"]
        q = text.split("\n")[0].removeprefix("Question: ")
        if "Proposed judgment" in text:
            return "A"
        return letter_for(req, TRUTH[q])

    return FakeBackend(responder=reply)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def dropped(tmp_path):
    path = tmp_path / "dropped.jsonl"
    write_jsonl(path, [
        {"id": "1", "prompt": "q1", "response": "negative", "confidence": 0.1},  # wrong: fixed
        {"id": "2", "prompt": "q2", "response": "negative", "confidence": 0.2},  # right already
        {"id": "3", "prompt": "q3", "response": "positive", "confidence": 0.3},  # wrong: fixed
    ])
    return path


def test_confident_corrections_replace_and_keep_an_audit_trail(tmp_path, dropped):
    out = tmp_path / "corrected.jsonl"
    summary = correct_file(dropped, out, truth_judge(), CorrectConfig(judge="llm"), candidate_backend=fine_tuned())
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["1", "3"]
    assert [r["response"] for r in rows] == ["positive", "neutral"]
    assert [r[ORIGINAL_COL] for r in rows] == ["negative", "positive"]
    audit = rows[0][CORRECTION_COL]
    assert audit["candidate"] == "positive" and audit["replaced"] is True
    assert audit["judge_confidence"] > 0.8
    assert {d["order"] for d in audit["verdicts"]} == {"original_first", "candidate_first"}
    assert "explanation" in audit
    assert rows[0]["confidence"] == 0.1  # every input column is kept
    # Row 2: the candidate equals the target, so no confident correction: it stays out.
    left = read_jsonl(tmp_path / "corrected.uncorrected.jsonl")
    assert [r["id"] for r in left] == ["2"]
    assert left[0][CORRECTION_COL]["reason"] == "candidate_same"
    assert left[0][ORIGINAL_COL] is None
    assert summary.replaced == 2 and summary.left_out == 1 and summary.written == 2


def test_eta_decides(tmp_path, dropped):
    # Judge prefers the candidate but reflection says "not sure": C = 0.7 * 1 + 0.3 * 0.5 = 0.85.
    def reply(req, i):
        if "Proposed judgment" in req.messages[-1]["content"]:
            return "C"
        q = req.messages[-1]["content"].split("\n")[0].removeprefix("Question: ")
        return letter_for(req, TRUTH[q])

    out = tmp_path / "c.jsonl"
    s = correct_file(dropped, out, FakeBackend(responder=reply), CorrectConfig(judge="llm", eta=0.8),
                     candidate_backend=fine_tuned())
    assert s.replaced == 2
    s = correct_file(dropped, out, FakeBackend(responder=reply), CorrectConfig(judge="llm", eta=0.9),
                     candidate_backend=fine_tuned())
    assert s.replaced == 0 and read_jsonl(out) == []
    left = read_jsonl(tmp_path / "c.uncorrected.jsonl")
    assert {r[CORRECTION_COL]["reason"] for r in left} == {"judge_not_confident", "candidate_same"}
    assert all(r["response"] == r["response"] for r in left)


def test_a_judge_preferring_the_original_changes_nothing(tmp_path, dropped):
    out = tmp_path / "c.jsonl"
    judge = candidate_judge("negative")  # always picks the response "negative"
    s = correct_file(dropped, out, judge, CorrectConfig(judge="llm"), candidate_backend=fine_tuned())
    # Row 1 keeps "negative"; row 3 ("positive" vs "neutral") meets a judge that says "B" in
    # both orders: pure position bias, which the two orders cancel.
    assert s.replaced == 0
    assert s.reasons == {"candidate_same": 1, "judge_does_not_prefer_candidate": 2}
    left = {r["id"]: r for r in read_jsonl(tmp_path / "c.uncorrected.jsonl")}
    assert left["3"][CORRECTION_COL]["preference"] == 0.5
    assert left["1"][CORRECTION_COL]["preference"] == 0.0


def test_threshold_and_all_rows_select_what_gets_a_candidate(tmp_path):
    scored = tmp_path / "scored.jsonl"
    write_jsonl(scored, [
        {"id": "1", "prompt": "q1", "response": "negative", "confidence": 0.1},
        {"id": "4", "prompt": "q4", "response": "neutral", "confidence": 0.9},
    ])
    cand = fine_tuned()
    out = tmp_path / "c.jsonl"
    s = correct_file(scored, out, truth_judge(), CorrectConfig(judge="llm"), candidate_backend=cand, threshold=0.5)
    rows = read_jsonl(out)
    # Row 1 was low and got fixed; row 4 was not low: it stays, untouched, without a candidate.
    assert [(r["id"], r["response"]) for r in rows] == [("1", "positive"), ("4", "neutral")]
    assert len([c for c in cand.calls if isinstance(c, GenerateRequest)]) == 1
    assert s.low == 1
    s = correct_file(scored, out, truth_judge(), CorrectConfig(judge="llm"), candidate_backend=fine_tuned(), threshold=0.5,
                     all_rows=True)
    assert [(r["id"], r["response"]) for r in read_jsonl(out)] == [("1", "positive"), ("4", "positive")]
    assert s.replaced == 2


def test_all_rows_of_an_unscored_file_keeps_every_row(tmp_path):
    data = tmp_path / "data.jsonl"
    write_jsonl(data, [{"id": "1", "prompt": "q1", "response": "negative"},
                       {"id": "2", "prompt": "q2", "response": "negative"}])
    out = tmp_path / "c.jsonl"
    s = correct_file(data, out, truth_judge(), CorrectConfig(judge="llm"), candidate_backend=fine_tuned(), all_rows=True)
    assert [(r["id"], r["response"]) for r in read_jsonl(out)] == [("1", "positive"), ("2", "negative")]
    assert s.left_out == 0 and s.replaced == 1


def test_candidates_can_come_from_a_column(tmp_path):
    data = tmp_path / "cands.jsonl"
    write_jsonl(data, [{"id": "1", "prompt": "q1", "response": "negative", "clearft_candidate": "positive",
                        "clearft_candidate_error": None}])
    out = tmp_path / "c.jsonl"
    correct_file(data, out, truth_judge(), CorrectConfig(judge="llm"))
    [row] = read_jsonl(out)
    assert row["response"] == "positive" and "clearft_candidate" not in row


def test_a_failed_candidate_is_an_error_reason_not_a_crash(tmp_path, dropped):
    broken = FakeBackend(fail_when=lambda req: req.messages[-1]["content"] == "q1",
                         responder=lambda req, i: TRUTH[req.messages[-1]["content"]])
    out = tmp_path / "c.jsonl"
    s = correct_file(dropped, out, truth_judge(), CorrectConfig(judge="llm"), candidate_backend=broken)
    assert s.reasons.get("candidate_error") == 1 and s.replaced == 1


def test_multiple_choice_csv_keeps_its_format(tmp_path):
    path = tmp_path / "dropped.csv"
    path.write_text('question,options,answer\n"q1","[""negative"", ""neutral"", ""positive""]",A\n')

    def letter_model(req, i):
        return "C"

    def judge(req, i):
        if "Proposed judgment" in req.messages[-1]["content"]:
            return "A"
        return letter_for(req, "C")

    out = tmp_path / "corrected.csv"
    correct_file(path, out, FakeBackend(responder=judge), CorrectConfig(judge="llm"), candidate_backend=FakeBackend(responder=letter_model))
    text = out.read_text()
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["question", "options", "answer"]
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["question"], row["answer"]) == ("q1", "C")  # the letter replaced, in the letter's column
    assert json.loads(row["options"]) == ["negative", "neutral", "positive"]
    assert row[ORIGINAL_COL] == "A" and json.loads(row[CORRECTION_COL])["reason"] == "replaced"


def test_candidates_are_fitted_to_the_record_format(tmp_path):
    path = tmp_path / "dropped.csv"
    path.write_text('question,options,answer\n'
                    '"q1","[""negative"", ""neutral"", ""positive""]",A\n'
                    '"q2","[""negative"", ""neutral"", ""positive""]",A\n')
    replies = {"q1": "C. positive", "q2": "I like turtles"}

    def model(req, i):
        return replies[req.messages[-1]["content"].split("\n")[0]]

    def judge(req, i):
        return "A" if "Proposed judgment" in req.messages[-1]["content"] else letter_for(req, "C")

    out = tmp_path / "corrected.csv"
    s = correct_file(path, out, FakeBackend(responder=judge), CorrectConfig(judge="llm"), candidate_backend=FakeBackend(responder=model))
    assert s.replaced == 1 and s.reasons == {"replaced": 1, "candidate_wrong_format": 1}
    import csv

    [row] = list(csv.DictReader(out.open()))
    assert row["answer"] == "C"  # "C. positive" became the letter the format holds
    [left] = list(csv.DictReader((tmp_path / "corrected.uncorrected.csv").open()))
    assert left["answer"] == "A"
    assert "does not fit" in json.loads(left[CORRECTION_COL])["errors"][0]


def test_correct_examples_in_memory():
    exs = [Example("1", [{"role": "user", "content": "q1"}], "negative")]
    [c] = correct_examples(exs, fine_tuned(), truth_judge())
    assert c.replaced and c.candidate == "positive" and c.audit()["replaced"] is True


def test_label_candidates_outside_the_datasets_labels_are_never_written(tmp_path):
    """Targets are labels (>= 10 rows, few values): an invented label is no candidate, even when
    the judge would prefer it; a candidate that is one of the labels is judged as usual."""
    rows = [{"id": str(i), "prompt": f"p{i}", "response": ["card_arrival", "change_pin"][i % 2],
             "confidence": 0.1} for i in range(12)]
    path = tmp_path / "dropped.jsonl"
    write_jsonl(path, rows)
    invented = {"p0": "card_arrival_late"}  # not a label of the dataset
    fixed = {"p1": "card_arrival"}  # a label: may replace "change_pin"
    model = FakeBackend(responder=lambda req, i: invented.get(req.messages[-1]["content"])
                        or fixed.get(req.messages[-1]["content"])
                        or ["card_arrival", "change_pin"][int(req.messages[-1]["content"][1:]) % 2])

    out = tmp_path / "corrected.jsonl"
    # The judge is sure the invented label is better: only the label rule keeps it out.
    correct_file(path, out, candidate_judge("card_arrival_late"), CorrectConfig(judge="llm"),
                 candidate_backend=model)
    written = read_jsonl(out) + read_jsonl(tmp_path / "corrected.uncorrected.jsonl")
    by_id = {r["id"]: r for r in written}
    assert by_id["0"]["response"] == "card_arrival"  # the invented label never lands
    assert "not one of the dataset's labels" in json.dumps(by_id["0"][CORRECTION_COL])
    assert by_id["0"][CORRECTION_COL]["reason"] == "candidate_not_a_label"
    assert all(r["response"] in {"card_arrival", "change_pin"} for r in written)
