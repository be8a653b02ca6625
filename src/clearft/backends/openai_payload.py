"""The pure half of the OpenAI-compatible backend, tested by plain equality: the request
body for each server kind (``build_payload``), and what a reply says (``parse_response``,
``parse_usage``), and how long to wait before a retry (``retry_delay``). What each server
kind gets, and why, is told in ``openai_backend.py``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearft.backends.base import Completion, GenerateRequest, Message

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
PAYLOAD_KINDS = ("llamacpp", "vllm", "openai")
# Room for a reply that writes the prefix ("answer: B") before what follows it.
NO_PREFILL_MIN_TOKENS = 8
PREFIX_INSTRUCTION = (
    'Start your reply directly with what comes after "{p}" (the letter or number itself), '
    'without writing "{p}".'
)


def prefix_instruction_messages(messages: Sequence[Message], prefix: str) -> list[Message]:
    """The messages for a server without prefill: the last user turn asks for the reply
    to start with what follows `prefix`."""
    out = [dict(m) for m in messages]
    ask = PREFIX_INSTRUCTION.format(p=prefix.strip())
    for m in reversed(out):
        if m["role"] == "user":
            m["content"] = f"{m['content']}\n\n{ask}"
            return out
    return [*out, {"role": "user", "content": ask}]


def build_payload(
    request: GenerateRequest,
    model: str,
    sample: int | None = 0,
    group: bool = False,
    kind: str = "llamacpp",
    logprobs: bool = True,
) -> dict[str, Any]:
    """The chat/completions body for one sample (seed + sample), or all n at once (group),
    for a server of `kind`; `logprobs=False` leaves log-probabilities out (the server
    lacks them)."""
    if kind not in PAYLOAD_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PAYLOAD_KINDS)}, not {kind!r}")
    messages = [dict(m) for m in request.messages]
    max_tokens = request.max_tokens
    extra: dict[str, Any] = {}
    if request.assistant_prefix and kind == "openai":
        messages = prefix_instruction_messages(messages, request.assistant_prefix)
        max_tokens = max(max_tokens, NO_PREFILL_MIN_TOKENS)
    elif request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
        if kind == "vllm":
            extra = {"continue_final_message": True, "add_generation_prompt": False}
    payload: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": request.temperature,
        "max_tokens": max_tokens,
        "n": request.n if group else 1,
        "seed": request.seed if group else request.seed + (sample or 0),
        **extra,
    }
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.top_logprobs and logprobs:
        payload["logprobs"] = True
        payload["top_logprobs"] = request.top_logprobs
    return payload


def _echoed(text: str, prefix: str) -> int:
    """How many leading characters of `text` are an echo of `prefix` (any case), or 0."""
    p = prefix.strip().lower()
    body = text.lstrip()
    if not p or not body.lower().startswith(p):
        return 0
    return len(text) - len(body) + len(p)


def _first_token_top(choice: dict[str, Any], text: str = "", skip: int = 0) -> dict[str, float]:
    """Top log-probabilities of the first token after `skip` characters of `text` (an
    echoed prefix) and any whitespace after them. The tokens may cover the whole text (the
    model wrote the prefix) or only its end (the server echoed the prefix: llama.cpp puts a
    prefilled assistant message back in front of the reply)."""
    tokens = (choice.get("logprobs") or {}).get("content") or []
    joined = "".join(t.get("token") or "" for t in tokens)
    end = len(text) - len(joined) if skip and text.endswith(joined) else 0
    for token in tokens:
        end += len(token.get("token") or "")
        if skip and (end <= skip or not (token.get("token") or "").strip()):
            continue
        return {t["token"]: float(t["logprob"]) for t in token.get("top_logprobs") or []}
    return {}


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0  # as the server counts them: cached ones included
    cached_prompt_tokens: int = 0  # of those, taken from the server's prompt cache
    completion_tokens: int = 0

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_prompt_tokens


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    """A token count as the server gave it; None if absent or not a number."""
    try:
        return max(0, int(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_usage(data: dict[str, Any]) -> TokenUsage:
    """Token counts of a reply: usage.prompt_tokens_details.cached_tokens (OpenAI, vLLM,
    recent llama.cpp), else llama.cpp's timings.cache_n or tokens_cached. A count missing
    or malformed is 0."""
    usage = _dict(data.get("usage"))
    prompt = _count(usage.get("prompt_tokens")) or 0
    cached = _count(_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
    if cached is None:
        cached = _count(_dict(data.get("timings")).get("cache_n"))
    if cached is None:
        cached = _count(data.get("tokens_cached"))
    cached = cached or 0
    return TokenUsage(prompt, min(cached, prompt) if prompt else cached,
                      _count(usage.get("completion_tokens")) or 0)


def parse_response(
    data: dict[str, Any], want_top: bool = False, assistant_prefix: str = ""
) -> Completion:
    """A Completion from a chat/completions reply (choices in index order). A reply that
    echoes `assistant_prefix` loses it, and its letter is read from the token after it."""
    if "error" in data and not data.get("choices"):
        err = data["error"]
        message = err.get("message") if isinstance(err, dict) else err
        return Completion(texts=[], error=str(message))
    choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
    if not choices:
        return Completion(texts=[], error="the server replied with no choices")
    texts, tops = [], []
    for choice in choices:
        text = (choice.get("message") or {}).get("content") or ""
        skip = _echoed(text, assistant_prefix) if assistant_prefix else 0
        texts.append(text[skip:])
        tops.append(_first_token_top(choice, text, skip))
    usage = parse_usage(data)
    return Completion(
        texts=texts,
        first_token_logprobs=tops if want_top else None,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_prompt_tokens=usage.cached_prompt_tokens,
    )


def retry_delay(attempt: int, retry_after: str | None, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (0-based): Retry-After if the server
    gave one in seconds, else exponential backoff with jitter, never above `cap`."""
    if retry_after:
        try:
            return min(cap, max(0.0, float(retry_after)))
        except ValueError:
            pass  # an HTTP date: rare enough to fall back to backoff
    return min(cap, base * (2**attempt)) * (0.5 + random.random() / 2)
