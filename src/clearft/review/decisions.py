"""clearft's decisions format: one JSON object a line, as the review page downloads it and
`clearft review --serve` appends it.

    {"id", "decision": keep | replace | edit | drop, "new_target" (replace and edit),
     "reviewer" (optional), "decided_at" (optional, ISO time)}

A later line on the same id wins (the reviewer changed their mind).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.data.jsonl import json_lines
from clearft.errors import DataError

DECISIONS = ("keep", "replace", "edit", "drop")


@dataclass
class Decision:
    id: str
    decision: str
    new_target: str | None
    reviewer: str | None
    decided_at: str | None
    line: int  # where it was read: the line, or the task or record of a labelling tool's export
    where: str | None = None  # "task 3 (clearft_id ...)" for a labelling tool's export


class RecordError(DataError):
    """A problem with one task or record of a labelling tool's export."""

    def __init__(self, path: str, where: str, field: str, reason: str) -> None:
        super().__init__(path, None, field, reason)
        self.args = (f"{path}, {where}, field '{field}': {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


def parse_decision(obj: Any, path: str, line: int | None) -> Decision:
    """One decision object, checked; a problem is a DataError naming the file (or what sent
    it) and line."""
    if not isinstance(obj, dict):
        raise DataError(path, line, None, "each line must be a JSON object")
    ident = obj.get("id")
    if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
        raise DataError(path, line, "id", "missing or not a string")
    decision = obj.get("decision")
    if decision not in DECISIONS:
        raise DataError(path, line, "decision", f"must be one of {', '.join(DECISIONS)}, got {decision!r}")
    new_target = obj.get("new_target")
    if decision in ("replace", "edit"):
        if not isinstance(new_target, str):
            raise DataError(path, line, "new_target", f"a '{decision}' decision needs new_target text")
    else:
        new_target = None
    for key in ("reviewer", "decided_at"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise DataError(path, line, key, "must be text")
    return Decision(str(ident), decision, new_target, obj.get("reviewer"), obj.get("decided_at"), line or 0)


def decision_line(d: Decision) -> dict[str, Any]:
    """A decision as the review page writes it (the object of one JSONL line)."""
    out: dict[str, Any] = {"id": d.id, "decision": d.decision}
    if d.new_target is not None:
        out["new_target"] = d.new_target
    if d.reviewer:
        out["reviewer"] = d.reviewer
    if d.decided_at:
        out["decided_at"] = d.decided_at
    return out


def read_decision_lines(path: str | Path) -> dict[str, Decision]:
    """The decisions of a clearft decisions JSONL by id, a later line on an id winning; a bad
    line is a DataError naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), None, None, "no such file")
    out: dict[str, Decision] = {}
    for n, obj in json_lines(p):
        d = parse_decision(obj, str(p), n)
        out.pop(d.id, None)  # keep the order of the last decision on each id
        out[d.id] = d
    return out
