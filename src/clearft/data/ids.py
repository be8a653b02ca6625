"""Stable example ids, and a compact index of the ids seen so far in a pass.

An id is the record's id column if it has one, else a content hash. Checking a million ids
for duplicates must not cost a million Python objects: the index keeps one 64-bit key per
id in sorted numpy arrays (8 bytes a row), with a small set in front for the newest keys.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clearft.data.formats import FieldProblem, describe_type
from clearft.messages import Message

MERGE_EVERY = 65_536  # keys held in the front set before they are merged into the array


def content_id(messages: list[Message], response: str) -> str:
    """sha1 of the prompt turns and the response, 16 hex chars.

    Computed from the parsed prompt, so it does not change when the same data is stored
    in another file type."""
    canonical = json.dumps({"messages": messages, "response": response},
                           ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]


def id_from_column(record: dict[str, Any], id_col: str) -> str:
    value = record.get(id_col)
    if value is None:
        raise FieldProblem(id_col, "missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldProblem(id_col, f"an id must be text or an integer, got {describe_type(value)}")
    text = str(value).strip()
    if not text:
        raise FieldProblem(id_col, "empty")
    return text


def id_key(ex_id: str) -> int:
    """A signed 64-bit key. Exact for content ids (they are 64-bit hex); for other ids a hash,
    so a match must be confirmed before it is called a duplicate."""
    if len(ex_id) == 16:
        try:
            return int(ex_id, 16) - 2**63
        except ValueError:
            pass
    return hash(ex_id)


class KeyIndex:
    """A set of 64-bit keys: `add` returns whether the key was already there."""

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._sorted: Any = None  # numpy int64 array, imported only once a file is large

    def add(self, key: int) -> bool:
        if key in self._recent:
            return True
        if self._sorted is not None:
            i = int(self._sorted.searchsorted(key))
            if i < len(self._sorted) and int(self._sorted[i]) == key:
                return True
        self._recent.add(key)
        if len(self._recent) >= MERGE_EVERY:
            self._merge()
        return False

    def _merge(self) -> None:
        import numpy as np

        fresh = np.fromiter(self._recent, dtype=np.int64, count=len(self._recent))
        merged = fresh if self._sorted is None else np.concatenate([self._sorted, fresh])
        merged.sort(kind="stable")  # two sorted runs: the stable sort merges them in linear time
        self._sorted = merged
        self._recent = set()

    def __len__(self) -> int:
        return len(self._recent) + (0 if self._sorted is None else len(self._sorted))
