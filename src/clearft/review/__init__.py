"""The human review queue: pick the rows where a person's answer is worth most, show them on
one offline HTML page whose decisions download as JSONL, merge those decisions back into the
dataset (`apply_decisions`), or export the queue for Label Studio or Argilla."""

from __future__ import annotations

from clearft.review.apply import ApplySummary, apply_decisions
from clearft.review.build import QueueResult, build_queue
from clearft.review.rank import gain, rank_rows

__all__ = ["ApplySummary", "QueueResult", "apply_decisions", "build_queue", "gain", "rank_rows"]
