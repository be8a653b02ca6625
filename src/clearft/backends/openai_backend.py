"""Any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp server) by base URL.

Two pure functions do the work and are tested by plain equality: ``build_payload`` turns a
request into the JSON body of ``POST {base_url}/chat/completions``; ``parse_response``
turns the reply into a Completion. A thin layer around them sends requests over httpx with
bounded concurrency, a timeout per request and retries with exponential backoff on 429,
5xx, timeouts, lost connections and garbled (non-JSON) replies (honouring
``Retry-After``). A request that still fails
returns ``Completion(error=...)``; it never raises.

Samples and seeds (choice): by default each sample is its own request with seed + i, so
sample i is the same text whether 1 or 10 samples are asked for, and the call cache can
reuse samples one by one. Servers do accept ``n`` in one request, but then the seed covers
the group, not each sample. ``group_samples=True`` sends one request with ``n`` (cheaper on
hosted APIs, which bill the prompt once); then ``seeded_sampling`` is reported False.

The API key is read from the environment variable ``api_key_env`` (default
OPENAI_API_KEY; a missing key is fine for local servers). It only ever goes into the
Authorization header: never into a log line, an error message or a file.

Log-likelihood of a given continuation is not something chat servers offer, so the
capability is False. ``assistant_prefix`` is sent as a trailing assistant message, which
llama.cpp's server and vLLM (``continue_final_message``) continue; the prefix is stripped
from the reply if the server echoes it.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from clearft.backends.base import Backend, Capabilities, Completion, GenerateRequest
from clearft.backends.llamacpp import map_in_threads

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


# ---------------------------------------------------------------------------------------
# Pure parts


def build_payload(
    request: GenerateRequest, model: str, sample: int | None = 0, group: bool = False
) -> dict[str, Any]:
    """The chat/completions body for one sample (seed + sample), or all n at once (group)."""
    messages = [dict(m) for m in request.messages]
    if request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
    payload: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "n": request.n if group else 1,
        "seed": request.seed if group else request.seed + (sample or 0),
    }
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.top_logprobs:
        payload["logprobs"] = True
        payload["top_logprobs"] = request.top_logprobs
    return payload


def _first_token_top(choice: dict[str, Any]) -> dict[str, float]:
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return {}
    return {t["token"]: float(t["logprob"]) for t in content[0].get("top_logprobs") or []}


def parse_response(
    data: dict[str, Any], want_top: bool = False, assistant_prefix: str = ""
) -> Completion:
    """A Completion from a chat/completions reply (choices in index order)."""
    if "error" in data and not data.get("choices"):
        err = data["error"]
        message = err.get("message") if isinstance(err, dict) else err
        return Completion(texts=[], error=str(message))
    choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
    if not choices:
        return Completion(texts=[], error="the server replied with no choices")
    texts = []
    for choice in choices:
        text = (choice.get("message") or {}).get("content") or ""
        if assistant_prefix and text.startswith(assistant_prefix):
            text = text[len(assistant_prefix):]
        texts.append(text)
    usage = data.get("usage") or {}
    return Completion(
        texts=texts,
        first_token_logprobs=[_first_token_top(c) for c in choices] if want_top else None,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
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


# ---------------------------------------------------------------------------------------
# I/O


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        base_url: str = "https://api.openai.com/v1",
        model: str = "gpt-4o-mini",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        group_samples: bool = False,
        max_context: int = 8192,
        transport: Any = None,  # an httpx transport; tests pass httpx.MockTransport
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.group_samples = group_samples
        self._max_context = int(max_context)
        self._key = os.environ.get(api_key_env) or None
        self._transport = transport
        self._client: Any = None
        self._lock = threading.Lock()
        self.retries = 0  # how many times a call was retried (visible to tests and logs)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=False,
            top_logprobs=True,
            chat_template=True,
            seeded_sampling=not self.group_samples,
            max_context=self._max_context,
        )

    @property
    def model_id(self) -> str:
        return f"{self.base_url}|{self.model}"

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        jobs: list[tuple[int, GenerateRequest, int | None]]
        if self.group_samples:
            jobs = [(r, req, None) for r, req in enumerate(requests)]
        else:
            jobs = [(r, req, i) for r, req in enumerate(requests) for i in range(req.n)]
        results = map_in_threads(self._one_call, jobs, self.concurrency)
        parts: list[list[Completion]] = [[] for _ in requests]
        for (r, _, _), comp in zip(jobs, results, strict=True):
            parts[r].append(comp)
        return [_join(p, req.top_logprobs > 0) for p, req in zip(parts, requests, strict=True)]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- one call with retries ------------------------------------------------------

    def _http(self) -> Any:
        import httpx

        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
                self._client = httpx.Client(
                    base_url=self.base_url,
                    headers=headers,
                    timeout=self.timeout,
                    limits=httpx.Limits(max_connections=self.concurrency),
                    transport=self._transport,
                )
            return self._client

    def _one_call(self, job: tuple[int, GenerateRequest, int | None]) -> Completion:
        _, req, sample = job
        payload = build_payload(req, self.model, sample, group=sample is None)
        data, error = self.post_with_retries("/chat/completions", payload)
        if data is None:
            return Completion(texts=[], error=error)
        comp = parse_response(data, req.top_logprobs > 0, req.assistant_prefix)
        expected = req.n if sample is None else 1
        if comp.ok and len(comp.texts) != expected:
            return Completion(texts=[], error=f"asked for {expected} samples, got {len(comp.texts)}")
        return comp

    def post_with_retries(self, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """POST with retries; (reply JSON, "") on success, (None, reason) when it gave up."""
        import httpx

        error = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                response = self._http().post(path, json=payload)
                if response.status_code < 400:
                    return response.json(), ""
                error = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUS:
                    break
                retry_after = response.headers.get("retry-after")
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except ValueError as exc:  # a 2xx reply that is not JSON
                # Retried: a proxy or an overloaded server can cut or garble one reply; a
                # server that never answers JSON still ends, after max_retries, as an error.
                error = f"the server's reply is not JSON: {exc}"
            if attempt < self.max_retries:
                with self._lock:
                    self.retries += 1
                time.sleep(retry_delay(attempt, retry_after, self.backoff, self.max_backoff))
        return None, self._redact(f"{error} (after {attempt + 1} attempts to {self.base_url}{path})")

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _join(parts: Sequence[Completion], want_top: bool) -> Completion:
    for p in parts:
        if not p.ok:
            return Completion(texts=[], error=p.error)
    firsts = None
    if want_top:
        firsts = [t for p in parts for t in (p.first_token_logprobs or [{}] * len(p.texts))]
    return Completion(
        texts=[t for p in parts for t in p.texts],
        first_token_logprobs=firsts,
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
    )
