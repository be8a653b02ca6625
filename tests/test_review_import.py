"""Decisions made in Label Studio or Argilla, read back from their exports of the queue
(`clearft review --export ...`) and merged by `clearft apply` (auto-detected or --from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main
from clearft.review import build_queue
from clearft.review.annotations import detect, read_decisions

from .test_report_fixtures import evidence_corrected_record, write_jsonl


def data_file(tmp: Path) -> Path:
    return write_jsonl(tmp / "data.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(5)])


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def ls_result(choice: str | None = None, text: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if choice is not None:
        out.append({"from_name": "decision", "to_name": "prompt", "type": "choices", "value": {"choices": [choice]}})
    if text is not None:
        out.append({"from_name": "new_target", "to_name": "prompt", "type": "textarea", "value": {"text": [text]}})
    return out


def annotate_label_studio(tmp: Path, data: Path, answers: dict[str, list[dict[str, Any]]]) -> Path:
    """The queue exported for Label Studio, with annotations as Label Studio's JSON export
    adds them (ids, completed_by, timestamps)."""
    tasks = json.loads(build_queue(data, tmp / "tasks.json", limit=5, to="label-studio").path.read_text())
    for n, task in enumerate(tasks, 1):
        task["id"] = n
        task["annotations"] = answers.get(task["data"]["clearft_id"], [])
    path = tmp / "ls-export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def ann(result: list[dict[str, Any]], when: str = "2026-12-04T10:00:00.000000Z", **extra: Any) -> dict[str, Any]:
    return {"id": 1, "completed_by": {"id": 1, "email": "ann@example.com"}, "result": result,
            "was_cancelled": False, "created_at": when, "updated_at": when, **extra}


def apply(tmp: Path, decisions: Path, data: Path, *extra: str) -> dict[str, dict[str, Any]]:
    assert main(["apply", str(decisions), "-o", str(tmp / "out.jsonl"), "--data", str(data), *extra]) == 0
    out = {r["id"]: r for r in read(tmp / "out.jsonl")}
    out.update({r["id"]: {**r, "_dropped": True} for r in read(tmp / "out.dropped.jsonl")})
    return out


def test_label_studio_round_trip(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    export = annotate_label_studio(tmp_path, data, {
        "row-0000": [ann(ls_result("keep"))],
        "row-0001": [ann(ls_result(text="positive"))],  # a candidate, no choice: replace
        "row-0002": [ann(ls_result("edit", "mixed")),
                     ann(ls_result("drop"), when="2026-12-04T09:00:00.000000Z")],  # older: loses
        "row-0003": [ann(ls_result("drop")), ann(ls_result("keep"), was_cancelled=True)],
    })
    assert detect(export) == "label-studio"
    out = apply(tmp_path, export, data)
    assert out["row-0000"]["response"] == "negative" and out["row-0000"]["clearft_review"] == {
        "decision": "keep", "reviewer": "ann@example.com", "decided_at": "2026-12-04T10:00:00.000000Z"}
    assert out["row-0001"]["response"] == "positive" and out["row-0001"]["clearft_review"]["decision"] == "replace"
    assert out["row-0001"]["clearft_original_response"] == "negative"
    assert out["row-0002"]["response"] == "mixed" and out["row-0002"]["clearft_review"]["decision"] == "edit"
    assert out["row-0003"].get("_dropped") is True
    assert out["row-0004"]["clearft_review"] is None  # not annotated: unchanged


def test_argilla_round_trip_each_response_shape(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    records = read(build_queue(data, tmp_path / "records.jsonl", limit=5, to="argilla").path)
    by = {r["id"]: r for r in records}
    # Argilla 2 Record.to_dict(): {question: [{value, user_id, status}]}
    by["row-0000"]["responses"] = {"decision": [{"value": "keep", "user_id": "u1", "status": "submitted"}]}
    by["row-0001"]["responses"] = {"new_target": [{"value": "positive", "user_id": "u1", "status": "submitted"}]}
    # Argilla 2 Response objects as a list
    by["row-0002"]["responses"] = [{"question_name": "decision", "value": "edit", "user_id": "u2"},
                                   {"question_name": "new_target", "value": "mixed", "user_id": "u2"}]
    # Argilla 1 FeedbackRecord responses; a draft is skipped
    by["row-0003"]["responses"] = [{"values": {"decision": {"value": "drop"}}, "user_id": "u3", "status": "submitted"}]
    by["row-0004"]["responses"] = {"decision": [{"value": "drop", "user_id": "u1", "status": "draft"}]}
    export = tmp_path / "argilla-export.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert detect(export) == "argilla"
    out = apply(tmp_path, export, data)
    assert out["row-0000"]["clearft_review"] == {"decision": "keep", "reviewer": "u1", "decided_at": None}
    assert out["row-0001"]["response"] == "positive" and out["row-0001"]["clearft_review"]["decision"] == "replace"
    assert out["row-0002"]["response"] == "mixed" and out["row-0002"]["clearft_review"]["reviewer"] == "u2"
    assert out["row-0003"].get("_dropped") is True
    assert out["row-0004"]["clearft_review"] is None
    # The same records as one JSON list, format given
    as_list = tmp_path / "argilla-export.json"
    as_list.write_text(json.dumps(records), encoding="utf-8")
    def plain(decisions: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(d.id, d.decision, d.new_target, d.reviewer) for d in decisions.values()]

    assert plain(read_decisions(as_list, "argilla")) == plain(read_decisions(export))


def test_clearft_decisions_still_detected(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "row-0000", "decision": "keep"}\n', encoding="utf-8")
    assert detect(p) == "clearft" and list(read_decisions(p)) == ["row-0000"]


def _ls(tmp: Path, tasks: Any) -> Path:
    p = tmp / "ls.json"
    p.write_text(json.dumps(tasks), encoding="utf-8")
    return p


def _argilla(tmp: Path, records: list[Any]) -> Path:
    p = tmp / "argilla.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return p


TASK = {"data": {"clearft_id": "row-0000", "target": "negative"}}


@pytest.mark.parametrize(("make", "source", "message"), [
    (lambda t: _ls(t, [TASK, {"data": {"prompt": "x"}, "annotations": []}]), "label-studio",
     "task 2, field 'data.clearft_id': missing"),
    (lambda t: _ls(t, [{**TASK, "annotations": [ann(ls_result("maybe"))]}]), "auto",
     "task 1 (clearft_id row-0000), field 'annotations[0].result[0].value.choices': must be one of keep"),
    (lambda t: _ls(t, [{**TASK, "annotations": [ann(ls_result("replace"))]}]), "auto",
     "task 1 (clearft_id row-0000), field 'annotations[0].result (new_target)': a 'replace' decision needs"),
    (lambda t: _ls(t, [{**TASK, "annotations": [ann([{"from_name": "new_target", "value": {"text": ["a", "b"]}}])]}]),
     "auto", "field 'annotations[0].result[0].value.text': 2 texts for one row"),
    (lambda t: _ls(t, [{**TASK, "annotations": [ann([{"from_name": "new_target"}])]}]), "auto",
     "field 'annotations[0].result[0].value': missing or not an object"),
    (lambda t: _ls(t, {"data": {}}), "label-studio", "a Label Studio export is a JSON list of tasks"),
    (lambda t: _argilla(t, [{"id": "row-0000", "fields": {}, "responses": {"decision": [{"user_id": "u"}]}}]),
     "auto", "line 1 (id row-0000), field 'responses.decision[0].value': missing"),
    (lambda t: _argilla(t, [{"fields": {}, "responses": {}}]), "auto", "line 1, field 'id': missing"),
    (lambda t: _argilla(t, [{"id": "row-0000", "fields": {},
                             "responses": [{"question_name": "decision", "value": "nope"}]}]), "argilla",
     "line 1 (id row-0000), field 'responses[0] (decision)': must be one of keep"),
    (lambda t: _argilla(t, [{"id": "row-0000", "fields": {}, "responses": [{"foo": 1}]}]), "argilla",
     "field 'responses[0]': neither question_name nor values"),
    (lambda t: _argilla(t, [{"id": "zzz", "fields": {},
                             "responses": [{"question_name": "decision", "value": "keep"}]}]), "auto",
     "line 1 (id zzz), field 'id': no row with id 'zzz'"),
    (lambda t: _ls(t, [{**TASK, "data": {"clearft_id": "zzz"}, "annotations": [ann(ls_result("keep"))]}]), "auto",
     "task 1 (clearft_id zzz), field 'id': no row with id 'zzz'"),
])
def test_bad_export_is_one_line_naming_file_record_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              make: Any, source: str, message: str) -> None:
    data = data_file(tmp_path)
    bad = make(tmp_path)
    out = tmp_path / "out.jsonl"
    assert main(["apply", str(bad), "-o", str(out), "--data", str(data), "--from", source]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and message in err, err
    assert not out.exists()
