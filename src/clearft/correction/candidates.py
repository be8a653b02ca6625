"""Step 4a of CLEAR: the fine-tuned model writes a candidate response (temperature 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clearft.backends.base import Backend, GenerateRequest
from clearft.data.example import Example


@dataclass
class Candidate:
    id: str
    text: str | None
    error: str | None = None


def auto_max_tokens(responses: Sequence[str], floor: int = 16, cap: int = 512) -> int:
    """Room for a candidate as long as the longest target (about 3 characters a token), with margin."""
    longest = max((len(r) for r in responses), default=0)
    return max(floor, min(cap, longest // 3 * 2 + floor))


def generate_candidates(
    examples: Sequence[Example],
    backend: Backend,
    *,
    max_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
) -> list[Candidate]:
    """One greedy candidate per example, in order. A failed call gives an error, not an exception."""
    limit = max_tokens or auto_max_tokens([ex.response for ex in examples])
    out: list[Candidate] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        requests = [
            GenerateRequest(messages=ex.messages, n=1, temperature=0.0, max_tokens=limit, seed=seed)
            for ex in chunk
        ]
        for ex, comp in zip(chunk, backend.generate(requests), strict=True):
            if not comp.ok or not comp.texts:
                out.append(Candidate(ex.id, None, comp.error or "no text returned"))
            else:
                out.append(Candidate(ex.id, comp.texts[0].strip()))
    return out
