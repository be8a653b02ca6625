"""Ask a backend many questions -- in one batched call, or streamed to a server that takes
requests in parallel -- re-asking (bounded) the ones whose answer does not parse. What still
does not parse comes back as unparsed, with its raw text, for the caller to count as
"unknown"."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from clearft.backends.base import Backend, Completion, GenerateRequest
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
    """Answers per ask, one per sample (request.n), each re-asked at most `max_retries` times.

    A backend that takes single requests in parallel (Capabilities.parallel_requests > 1: a
    server with slots) gets each ask as its own call, from that many threads, and an ask's
    re-asks as soon as its answer fails to parse: no request waits for a retry round, and no
    slot idles while the slowest answer of a batch comes back. Any other backend gets the asks
    in one batched call and one call per retry round. Either way the same requests are sent
    and the same answers kept."""
    answers = [[Answer() for _ in range(a.request.n)] for a in asks]

    def until_parsed(pending: list[tuple[int, int, Ask]], count: Callable[[Sequence[Completion]], None]) -> None:
        """Send `pending`, then its re-asks, until every answer parses or runs out of retries."""
        for attempt in range(max_retries + 1):
            if not pending:
                return
            completions = backend.generate([a.request for _, _, a in pending])
            count(completions)
            pending = _take(answers, asks, pending, completions, attempt, max_retries)

    workers = min(backend.capabilities.parallel_requests, len(asks))
    if workers <= 1:
        until_parsed([(i, -1, a) for i, a in enumerate(asks)], usage.add_completions)
        return answers
    lock = threading.Lock()

    def count_locked(completions: Sequence[Completion]) -> None:
        with lock:
            usage.add_completions(completions)

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        list(pool.map(lambda i: until_parsed([(i, -1, asks[i])], count_locked), range(len(asks))))
    finally:  # an ask that raised (a closed backend, Ctrl-C): the queued ones are not sent
        pool.shutdown(wait=True, cancel_futures=True)
    return answers


def _take(answers: list[list[Answer]], asks: Sequence[Ask], sent: list[tuple[int, int, Ask]],
          completions: Sequence[Completion], attempt: int, max_retries: int) -> list[tuple[int, int, Ask]]:
    """Record the completions of `sent` (ask index, sample or -1 for all, ask) in `answers`;
    the re-asks for the samples that did not parse."""
    retry: list[tuple[int, int, Ask]] = []
    for (i, sample, ask), comp in zip(sent, completions, strict=True):
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
    return retry
