"""The in-memory Python API: clearft.score, clearft.filter, clearft.correct, clearft.curate.

Each takes a pandas DataFrame, a datasets.Dataset or a list of dicts and returns the same
type with clearft's columns added, by running the file function the CLI runs on a temporary
JSONL copy (convert.py): one implementation behind the CLI, the file API and this one.
"""

from __future__ import annotations

from clearft.api.calls import correct, filter, score
from clearft.api.loop import curate

__all__ = ["correct", "curate", "filter", "score"]
