"""Pure parts of the llama.cpp backend: request payloads, reply parsing, how a batch is
split into units that one slot runs in order. No model, no I/O: tested by plain equality."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clearft.backends.base import Completion, GenerateRequest, LoglikelihoodResult


def token_grammar(token_ids: Sequence[int]) -> str:
    """A GBNF grammar that allows exactly this token sequence."""
    if not token_ids:
        raise ValueError("cannot force an empty token sequence")
    return "root ::= " + " ".join(f"<[{t}]>" for t in token_ids)


def sample_options(req: GenerateRequest, first: int = 0, count: int = 1) -> dict[str, Any]:
    """The sampling fields shared by chat and raw completions, for samples first..first+count-1.

    One call decodes `count` samples (llama.cpp's ``n_cmpl``): the server evaluates the prompt
    once and gives child i the seed ``seed + i``, clearft's own convention, so sample i is
    the same text whether it came alone or with others."""
    opts: dict[str, Any] = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "seed": req.seed + first,
        "n_cmpl": count,
    }
    if req.stop:
        opts["stop"] = list(req.stop)
    return opts


def chat_payload(req: GenerateRequest, first: int = 0, count: int = 1) -> dict[str, Any]:
    payload = {"messages": [dict(m) for m in req.messages], **sample_options(req, first, count)}
    if req.top_logprobs:
        payload.update(logprobs=True, top_logprobs=req.top_logprobs)
    return payload


def raw_payload(prompt: str, req: GenerateRequest, first: int = 0, count: int = 1) -> dict[str, Any]:
    payload = {"prompt": prompt, **sample_options(req, first, count)}
    if req.top_logprobs:
        payload["n_probs"] = req.top_logprobs
    return payload


def server_error(response: Any) -> str | None:
    """The error message of a server reply, or None when it is a normal result."""
    if not isinstance(response, dict):
        return f"unexpected reply from llama.cpp: {str(response)[:200]}"
    err = response.get("error")
    if err is None:
        return None
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err)


def _first_token_top(choice: dict[str, Any]) -> dict[str, float]:
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return {}
    return {t["token"]: float(t["logprob"]) for t in content[0].get("top_logprobs", [])}


def reported_cached_tokens(response: dict[str, Any]) -> int | None:
    """Prompt tokens the server took from its cache: usage.prompt_tokens_details.cached_tokens,
    else timings.cache_n; None when it says neither."""
    details = (response.get("usage") or {}).get("prompt_tokens_details") or {}
    value = details.get("cached_tokens")
    if value is None:
        value = (response.get("timings") or {}).get("cache_n")
    return None if value is None else int(value)


def cached_tokens(response: dict[str, Any]) -> int:
    """Prompt tokens the server took from its cache; 0 when it does not say."""
    return reported_cached_tokens(response) or 0


def add_usage(response: dict[str, Any], spent: dict[str, Any]) -> dict[str, Any]:
    """`response` with the prompt, cached and generated tokens of another reply `spent` added
    to its usage (a refused attempt whose work was done all the same)."""
    mine, theirs = response.get("usage") or {}, spent.get("usage") or {}
    usage = {**mine,
             "prompt_tokens": int(mine.get("prompt_tokens", 0)) + int(theirs.get("prompt_tokens", 0)),
             "completion_tokens": int(mine.get("completion_tokens", 0)) + int(theirs.get("completion_tokens", 0)),
             "prompt_tokens_details": {"cached_tokens": cached_tokens(response) + cached_tokens(spent)}}
    return {**response, "usage": usage}


def without_thinking(response: dict[str, Any]) -> dict[str, Any]:
    """A raw completion with each choice's leading ``<think>...</think>`` block removed, as
    llama.cpp's chat endpoint splits a thinking model's reasoning off the reply."""
    choices = []
    for choice in response.get("choices") or []:
        text = choice.get("text")
        if isinstance(text, str) and text.lstrip().startswith("<think>") and "</think>" in text:
            choice = {**choice, "text": text.split("</think>", 1)[1].lstrip()}
        choices.append(choice)
    return {**response, "choices": choices} if "choices" in response else response


def parse_reply(response: dict[str, Any], want_top: bool) -> Completion:
    """A Completion with every choice of a chat or raw completion reply, in index order."""
    err = server_error(response)
    if err is not None:
        return Completion(texts=[], error=err)
    choices = sorted(response.get("choices") or [], key=lambda c: int(c.get("index", 0)))
    if not choices:
        return Completion(texts=[], error=f"llama.cpp replied without choices: {str(response)[:200]}")
    texts = [(c["message"]["content"] if "message" in c else c.get("text", "")) or "" for c in choices]
    usage = response.get("usage") or {}
    prompt = int(usage.get("prompt_tokens", 0))
    return Completion(
        texts=texts,
        first_token_logprobs=[_first_token_top(c) for c in choices] if want_top else None,
        prompt_tokens=prompt,
        completion_tokens=int(usage.get("completion_tokens", 0)),
        cached_prompt_tokens=min(cached_tokens(response), prompt) if prompt else cached_tokens(response),
    )


def merge_calls(req: GenerateRequest, parts: Sequence[Completion]) -> Completion:
    """One Completion for a request from its calls, in sample order (the first error wins).
    A greedy request was decoded once: its text is copied n times, its tokens counted once."""
    for part in parts:
        if not part.ok:
            return Completion(texts=[], error=part.error)
    texts = [t for part in parts for t in part.texts]
    firsts = [lp for part in parts for lp in (part.first_token_logprobs or [{}] * len(part.texts))]
    if len(texts) < req.n:  # greedy: every sample is the same
        texts, firsts = texts[:1] * req.n, firsts[:1] * req.n
    return Completion(
        texts=texts,
        first_token_logprobs=firsts if req.top_logprobs else None,
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
        cached_prompt_tokens=sum(p.cached_prompt_tokens for p in parts),
    )


def forced_logprob(response: dict[str, Any], token_ids: Sequence[int]) -> LoglikelihoodResult:
    """Sum the log-probabilities of the forced tokens; check the server forced exactly them."""
    err = server_error(response)
    if err is not None:
        return LoglikelihoodResult(logprob=0.0, n_tokens=0, error=err)
    content = (response["choices"][0].get("logprobs") or {}).get("content") or []
    got = [int(t["id"]) for t in content]
    if got != list(token_ids):
        if len(got) < len(token_ids) and _is_subsequence(got, token_ids):
            # Seen on a GSM8K solution with "√": the server reports a token that is only part
            # of a UTF-8 character together with the next one, so its log-probability is lost.
            missing = len(token_ids) - len(got)
            return LoglikelihoodResult(logprob=0.0, n_tokens=0, error=(
                f"llama.cpp's server reported no log-probability for {missing} of {len(token_ids)} "
                "tokens (pieces of a multi-byte character); the transformers backend scores such "
                "text exactly"))
        return LoglikelihoodResult(
            logprob=0.0, n_tokens=0,
            error=f"llama.cpp did not follow the forced tokens (wanted {list(token_ids)}, got {got})",
        )
    return LoglikelihoodResult(logprob=sum(float(t["logprob"]) for t in content), n_tokens=len(got))


def _is_subsequence(short: Sequence[int], long: Sequence[int]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def plan_calls(requests: Sequence[GenerateRequest], slots: int) -> list[tuple[int, int, int]]:
    """(request, first sample, count) for each server call: a request's samples go in one
    call (llama.cpp decodes them in parallel slots from one prompt evaluation), in pieces of
    at most `slots` (the server's limit). A greedy request decodes one sample; the rest are
    copies."""
    calls: list[tuple[int, int, int]] = []
    for r, req in enumerate(requests):
        k = 1 if req.temperature <= 0 else max(1, req.n)
        calls.extend((r, first, min(slots, k - first)) for first in range(0, k, max(1, slots)))
    return calls


def map_in_threads(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """fn over items with `workers` threads, results in input order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))
