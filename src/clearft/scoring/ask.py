"""Ask a backend many questions in one batched call, re-asking (bounded) the ones whose
answer does not parse. What still does not parse comes back as unparsed, with its raw
text, for the caller to count as "unknown"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clearft.backends.base import Backend, GenerateRequest
from clearft.scoring.result import Usage

# (generated text, top log-probabilities of its first token or None) -> value or None
Parser = Callable[[str, "dict[str, float] | None"], Any]
# A seed stride far from the i-th sample seeds (seed + i), so retries draw fresh samples.
RETRY_SEED_STRIDE = 1_000_003


@dataclass
class Ask:
    request: GenerateRequest
    parse: Parser
    # (sample index, attempt >= 1) -> the one-sample question to ask instead; None: re-ask
    # the same question with a fresh seed.
    retry: Callable[[int, int], Ask] | None = None

    def retry_ask(self, sample: int, attempt: int) -> Ask:
        if self.retry is not None:
            return self.retry(sample, attempt)
        req = self.request.single(sample)
        req.seed += RETRY_SEED_STRIDE * attempt
        return Ask(req, self.parse, None)


@dataclass
class Answer:
    """One sample's outcome after retries."""

    text: str = ""
    value: Any = None  # the parsed value; None when it never parsed
    first_logprobs: dict[str, float] | None = None
    attempts: int = 1
    raw: list[str] = field(default_factory=list)  # every text seen, in order
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.value is not None


def ask_all(backend: Backend, asks: Sequence[Ask], max_retries: int, usage: Usage) -> list[list[Answer]]:
    """Answers per ask, one per sample (request.n). One backend call for all asks, then
    one per retry round for the outputs that did not parse."""
    answers = [[Answer() for _ in range(a.request.n)] for a in asks]
    current: list[tuple[int, int, Ask]] = [(i, -1, a) for i, a in enumerate(asks)]
    for attempt in range(max_retries + 1):
        if not current:
            break
        completions = backend.generate([a.request for _, _, a in current])
        usage.add_completions(completions)
        retry: list[tuple[int, int, Ask]] = []
        for (i, sample, ask), comp in zip(current, completions, strict=True):
            samples = range(ask.request.n) if sample < 0 else [sample]
            for j, s in enumerate(samples):
                ans = answers[i][s]
                ans.attempts = attempt + 1
                if not comp.ok:
                    # A failed first call fails the row; a failed re-ask leaves it unparsed.
                    if attempt == 0:
                        ans.error = comp.error or "model call failed"
                    continue
                text = comp.texts[j] if j < len(comp.texts) else ""
                lps = comp.first_token_logprobs[j] if comp.first_token_logprobs and j < len(comp.first_token_logprobs) else None
                ans.text, ans.first_logprobs, ans.error = text, lps, None
                ans.raw.append(text)
                ans.value = ask.parse(text, lps)
                if ans.value is None and attempt < max_retries:
                    retry.append((i, s, asks[i].retry_ask(s, attempt + 1)))
        current = retry
    return answers
