"""Read decisions back from the labelling tools the queue was exported to, into clearft's
decisions (clearft.review.decisions), so `clearft apply` takes any of them.

- Label Studio: its JSON export, a list of tasks as `--export label-studio` wrote them
  (`data.clearft_id`, ...) with the `annotations` Label Studio adds; in each annotation's
  `result`, a Choices `decision` (`value.choices`: keep, replace, edit or drop) and the TextArea
  `new_target` (`value.text`).
- Argilla: records as `--export argilla` wrote them (`id`, `fields`, ...), one JSON object a
  line or a JSON list, with `responses` to the questions `decision` (label) and `new_target`
  (text), in Argilla 2's shapes: `{"new_target": [{"value", "user_id", "status"}]}` (a record's
  to_dict) or `[{"question_name", "value", "user_id", "status"}]`, or Argilla 1's
  `[{"values": {"new_target": {"value"}}, "user_id", "status"}]`.

Without a decision answer, a new target that equals the row's target is `keep`, one of the
exported candidates `replace`, anything else `edit`. Skipped: tasks and records nobody
answered, cancelled annotations, responses not submitted (drafts, discarded). When several
are left on one row, the latest (by its time; else the last) wins. A bad one is one line
naming the file, the task or record, and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clearft.errors import DataError
from clearft.review.decisions import DECISIONS, Decision, RecordError, read_decision_lines

SOURCES = ("auto", "clearft", "label-studio", "argilla")
DECISION_NAME = "decision"
TEXT_NAME = "new_target"


def _load_json(path: Path) -> tuple[Any, bool]:
    """(content, is_list): a JSON document, else JSON lines."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            return json.loads(text), True
        except json.JSONDecodeError as exc:
            raise DataError(str(path), exc.lineno, None, f"not valid JSON ({exc.msg})") from None
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(str(path), n, None, f"not valid JSON ({exc.msg})") from None
    return records, False


def detect(path: Path) -> str:
    """clearft, label-studio or argilla, from the file's first record."""
    content, is_list = _load_json(path)
    first = (content[0] if content else None) if is_list else (content[0][1] if content else None)
    if isinstance(first, dict):
        if "annotations" in first or "data" in first:
            return "label-studio"
        if "fields" in first or "responses" in first:
            return "argilla"
    return "clearft"


def read_decisions(path: str | Path, source: str = "auto") -> dict[str, Decision]:
    """The decisions by id, from clearft's JSONL or a Label Studio / Argilla export."""
    p = Path(path)
    if source not in SOURCES:
        raise DataError(str(p), None, None, f"unknown decisions format '{source}'; choose {', '.join(SOURCES)}")
    if not p.is_file():
        raise DataError(str(p), None, None, "no such file")
    if source == "auto":
        source = detect(p)
    if source == "clearft":
        return read_decision_lines(p)
    if source == "label-studio":
        return read_label_studio(p)
    return read_argilla(p)


def _decision(path: str, where: str, names: tuple[str, str], ident: str, choice: Any, text: Any,
              target: Any, candidates: list[Any], reviewer: Any, when: Any, index: int) -> Decision | None:
    """A decision from a tool's answer: `choice` (or None) and `text` (or None); `names` are
    the fields they came from, for messages."""
    if choice is None and text is None:
        return None
    if choice is not None and choice not in DECISIONS:
        raise RecordError(path, where, names[0], f"must be one of {', '.join(DECISIONS)}, got {choice!r}")
    if text is not None and not isinstance(text, str):
        raise RecordError(path, where, names[1], "must be text")
    if choice is None:
        choice = "keep" if text == target else "replace" if text in candidates else "edit"
    if choice in ("replace", "edit") and not text:
        raise RecordError(path, where, names[1], f"a '{choice}' decision needs the new target text")
    return Decision(id=ident, decision=choice, new_target=text if choice in ("replace", "edit") else None,
                    reviewer=None if reviewer in (None, "") else str(reviewer),
                    decided_at=when if isinstance(when, str) else None, line=index, where=where)


def _keep_latest(out: dict[str, Decision], ident: str, found: list[tuple[Any, int, Decision]]) -> None:
    """Record the latest of one row's decisions (by time where every one has one, else the
    last); a later task or record on the same row wins over an earlier one."""
    if not found:
        return
    if all(isinstance(t, str) and t for t, _, _ in found):
        latest = max(found, key=lambda f: (f[0], f[1]))[2]
    else:
        latest = found[-1][2]
    out.pop(ident, None)
    out[ident] = latest


# ---------------------------------------------------------------- Label Studio


def _one_text(path: str, where: str, field: str, value: Any) -> str:
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise RecordError(path, where, field, "must be a list of text")
    if len(texts) > 1:
        raise RecordError(path, where, field, f"{len(texts)} texts for one row; give one new target")
    return texts[0]


def read_label_studio(path: Path) -> dict[str, Decision]:
    content, is_list = _load_json(path)
    p = str(path)
    if not is_list:
        raise DataError(p, None, None, "a Label Studio export is a JSON list of tasks")
    out: dict[str, Decision] = {}
    for t, task in enumerate(content, 1):
        where = f"task {t}"
        if not isinstance(task, dict):
            raise RecordError(p, where, "task", "must be a JSON object")
        data = task.get("data")
        ident = data.get("clearft_id") if isinstance(data, dict) else None
        if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
            raise RecordError(p, where, "data.clearft_id", "missing (export the queue with "
                              "`clearft review --export label-studio`)")
        ident = str(ident)
        where = f"task {t} (clearft_id {ident})"
        target = data.get("target") if isinstance(data, dict) else None
        candidates = [_prediction_text(pred) for pred in task.get("predictions") or [] if isinstance(pred, dict)]
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise RecordError(p, where, "annotations", "must be a list")
        found = []
        for a, ann in enumerate(annotations):
            prefix = f"annotations[{a}]"
            if not isinstance(ann, dict):
                raise RecordError(p, where, prefix, "must be a JSON object")
            if ann.get("was_cancelled"):
                continue
            results = ann.get("result") or []
            if not isinstance(results, list):
                raise RecordError(p, where, f"{prefix}.result", "must be a list")
            choice = text = None
            names = [f"{prefix}.result ({DECISION_NAME})", f"{prefix}.result ({TEXT_NAME})"]
            for r, res in enumerate(results):
                field = f"{prefix}.result[{r}]"
                if not isinstance(res, dict) or not isinstance(res.get("value"), dict):
                    raise RecordError(p, where, f"{field}.value", "missing or not an object")
                value = res["value"]
                if "choices" in value:
                    names[0] = f"{field}.value.choices"
                    choice = _one_text(p, where, names[0], value["choices"])
                    if choice not in DECISIONS:
                        raise RecordError(p, where, f"{field}.value.choices",
                                          f"must be one of {', '.join(DECISIONS)}, got {choice!r}")
                elif "text" in value:
                    names[1] = f"{field}.value.text"
                    text = _one_text(p, where, names[1], value["text"])
            who = ann.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("username") or who.get("id")
            when = ann.get("updated_at") or ann.get("created_at")
            d = _decision(p, where, (names[0], names[1]), ident, choice, text, target, candidates, who, when, t)
            if d is not None:
                found.append((when, a, d))
        _keep_latest(out, ident, found)
    return out


def _prediction_text(pred: dict[str, Any]) -> str | None:
    for res in pred.get("result") or []:
        value = res.get("value") if isinstance(res, dict) else None
        if isinstance(value, dict) and isinstance(value.get("text"), list) and value["text"]:
            return str(value["text"][0])
    return None


# ---------------------------------------------------------------- Argilla


def _responses(path: str, where: str, responses: Any) -> list[tuple[dict[str, Any], Any, Any, str]]:
    """Submitted answers grouped per user: ({question: value}, user, time, field)."""
    by_user: dict[str, tuple[dict[str, Any], Any, Any, str]] = {}

    def add(question: Any, value: Any, user: Any, status: Any, when: Any, field: str) -> None:
        if status not in (None, "submitted"):
            return
        key = json.dumps(user, default=str)
        answers, _, t, _ = by_user.get(key, ({}, user, None, field))
        answers[str(question)] = value
        by_user[key] = (answers, user, when or t, field)

    if isinstance(responses, dict):  # Argilla 2 to_dict: {question: [{value, user_id, status}]}
        for question, items in responses.items():
            for i, item in enumerate(items if isinstance(items, list) else [items]):
                field = f"responses.{question}[{i}]"
                if not isinstance(item, dict) or "value" not in item:
                    raise RecordError(path, where, f"{field}.value", "missing")
                add(question, item["value"], item.get("user_id"), item.get("status"),
                    item.get("updated_at") or item.get("inserted_at"), field)
    elif isinstance(responses, list):
        for i, item in enumerate(responses):
            field = f"responses[{i}]"
            if not isinstance(item, dict):
                raise RecordError(path, where, field, "must be a JSON object")
            when = item.get("updated_at") or item.get("inserted_at")
            if isinstance(item.get("values"), dict):  # Argilla 1: {values: {question: {value}}}
                for question, v in item["values"].items():
                    if not isinstance(v, dict) or "value" not in v:
                        raise RecordError(path, where, f"{field}.values.{question}.value", "missing")
                    add(question, v["value"], item.get("user_id"), item.get("status"), when, field)
            elif "question_name" in item:  # Argilla 2 Response objects
                if "value" not in item:
                    raise RecordError(path, where, f"{field}.value", "missing")
                add(item["question_name"], item["value"], item.get("user_id"), item.get("status"), when, field)
            else:
                raise RecordError(path, where, field, "neither question_name nor values")
    elif responses is not None:
        raise RecordError(path, where, "responses", "must be an object or a list")
    return list(by_user.values())


def read_argilla(path: Path) -> dict[str, Decision]:
    content, is_list = _load_json(path)
    p = str(path)
    items = [(f"record {i}", i, r) for i, r in enumerate(content, 1)] if is_list else \
        [(f"line {n}", n, r) for n, r in content]
    out: dict[str, Decision] = {}
    for where, index, rec in items:
        if not isinstance(rec, dict):
            raise RecordError(p, where, "record", "must be a JSON object")
        ident = rec.get("id")
        if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
            raise RecordError(p, where, "id", "missing (export the queue with `clearft review --export argilla`)")
        ident = str(ident)
        fields = rec["fields"] if isinstance(rec.get("fields"), dict) else {}
        suggestions = rec.get("suggestions") or []
        if isinstance(suggestions, dict):  # Argilla 2 to_dict: {question: {value, ...}}
            suggestions = [{"question_name": q, **s} for q, s in suggestions.items() if isinstance(s, dict)]
        candidates = [s.get("value") for s in suggestions
                      if isinstance(s, dict) and s.get("question_name") == TEXT_NAME]
        found = []
        for k, (answers, user, when, field) in enumerate(_responses(p, f"{where} (id {ident})", rec.get("responses"))):
            names = (f"{field} ({DECISION_NAME})", f"{field} ({TEXT_NAME})")
            d = _decision(p, f"{where} (id {ident})", names, ident, answers.get(DECISION_NAME),
                          answers.get(TEXT_NAME), fields.get("target"), candidates, user, when, index)
            if d is not None:
                found.append((when, k, d))
        _keep_latest(out, ident, found)
    return out
