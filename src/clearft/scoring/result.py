"""What scoring produces: one ScoreResult per row (the output schema), and a run summary
(with the Usage of model calls, which the backends layer defines: engines count it too)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from clearft.backends.usage import Usage

__all__ = ["COLUMNS", "ScoreResult", "ScoreSummary", "Usage", "row_seed"]

# Columns added to every output record (report, correct and run rely on these names).
COLUMNS = (
    "id", "confidence", "consistency", "self_reflection",
    "clearft_method", "clearft_evidence", "clearft_error",
)


@dataclass
class ScoreResult:
    id: str
    confidence: float | None
    consistency: float | None = None
    self_reflection: float | None = None
    method: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "confidence": self.confidence,
            "consistency": self.consistency,
            "self_reflection": self.self_reflection,
            "clearft_method": self.method,
            "clearft_evidence": self.evidence,
            "clearft_error": self.error,
        }

    @classmethod
    def from_columns(cls, d: dict[str, Any]) -> ScoreResult:
        return cls(
            id=d["id"], confidence=d.get("confidence"), consistency=d.get("consistency"),
            self_reflection=d.get("self_reflection"), method=d.get("clearft_method", ""),
            evidence=d.get("clearft_evidence") or {}, error=d.get("clearft_error"),
        )

    @classmethod
    def failed(cls, example_id: str, method: str, error: str) -> ScoreResult:
        return cls(id=example_id, confidence=None, method=method, error=error)


@dataclass
class ScoreSummary:
    output: str
    method: str
    rows: int = 0
    scored: int = 0
    failed: int = 0
    reused: int = 0  # rows taken from the journal of an interrupted run
    rejected: int = 0  # bad input records set aside (--on-error skip), never scored
    rejects_file: str | None = None  # where they went, each with its reason
    unknown_outputs: int = 0  # model outputs that never parsed (counted, not guessed)
    seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    dry_run: bool = False
    estimate: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        if self.dry_run:
            e = self.estimate
            return [
                f"dry run: {self.rows} rows, method {self.method}",
                f"  model calls: {e.get('requests', 0)} requests "
                f"({e.get('generated_samples', 0)} generated samples, "
                f"{e.get('loglikelihood_requests', 0)} log-likelihood requests), "
                f"in about {e.get('backend_calls', 0)} batched backend calls",
                f"  tokens: about {e.get('prompt_tokens', 0)} prompt + at most "
                f"{e.get('max_completion_tokens', 0)} generated",
            ]
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        u = self.usage
        return [
            f"scored {self.scored} of {self.rows} rows with {self.method} "
            f"({self.failed} failed, {self.reused} reused from an interrupted run, "
            f"{self.unknown_outputs} unparseable outputs counted as unknown) "
            f"in {self.seconds:.1f} s ({rate:.2f} rows/s)",
            f"  model calls: {u.calls} backend calls, {u.requests} requests; tokens: "
            f"{u.prompt_tokens} prompt" + (f" ({u.cached_prompt_tokens} from the server's prompt cache)"
                                           if u.cached_prompt_tokens else "")
            + f" + {u.completion_tokens} generated",
            f"  wrote {self.output}",
        ] + ([f"  rejected {self.rejected} bad input records, each with its reason, into "
              f"{self.rejects_file}"] if self.rejected else [])


def row_seed(seed: int, example_id: str, purpose: str) -> int:
    """A sampling seed that depends only on the run seed, the row and the purpose, never on
    the row's position or batch: that is what keeps scores independent of batch size."""
    digest = hashlib.sha256(f"{seed}:{example_id}:{purpose}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)
