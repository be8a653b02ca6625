"""Any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp server) by base URL.

Two pure functions do the work and are tested by plain equality: ``build_payload`` turns a
request into the JSON body of ``POST {base_url}/chat/completions`` for a given server kind;
``parse_response`` turns the reply into a Completion (``parse_usage`` reads its token
counts). A thin layer around them sends requests over httpx and retries with backoff on
429, 5xx, timeouts, lost connections and garbled (non-JSON) replies (honouring
``Retry-After``). A request that still fails returns ``Completion(error=...)``; it never
raises.

Server kinds (``server_kind``, default ``auto``; see ``openai_probe.py``). What a request
with ``assistant_prefix`` (reflection's prefilled "answer:") becomes:

* ``llamacpp``: the prefix as a trailing assistant message, which the server continues
  (recent builds put the prefix back in front of the reply: it is cut off again);
* ``vllm``: the same plus ``continue_final_message: true, add_generation_prompt: false``
  (without them vLLM closes the prefilled turn and the model starts a new one: the letter
  read after "answer:" would be the first token of a fresh reply);
* ``openai`` (no prefill, as OpenAI's hosted API): no assistant message; the last user
  message ends with an instruction to start the reply with what follows the prefix (the
  letter), ``max_tokens`` at least 8, and the letter's probabilities are read from the
  first token after an echoed prefix if the model writes one anyway;
* ``auto``: the server is asked once, lazily (the first request that needs a feature), with
  tiny probe requests; the result is in ``describe()["server"]``. OpenAI's own API
  (api.openai.com) is known by its address and not probed. The environment variable
  CLEARFT_OPENAI_SERVER_KIND names the kind when the option is not given. If a probe gets
  no answer at all, the requests that need it fail as errors and the next call asks again.

Samples and seeds: with ``group_samples`` (default: on when the server honours ``n``, which
``auto`` probes: vLLM, OpenAI and recent llama.cpp servers do) the k samples of a request
go in one request with ``n``, so hosted APIs bill the prompt once; the seed then covers the
group, not each sample, and ``seeded_sampling`` (and ``describe()["server"]
["per_sample_seeds"]``) is False. Otherwise each sample is its own request with seed + i,
the same text whether 1 or 10 samples are asked for.

Concurrency adapts (``aimd.py``): 4 requests in flight at first (``concurrency``), doubling
to 16, then +1 per success up to ``max_concurrency`` (256); halved on 429, 503 or a
timeout, with every thread waiting out the server's Retry-After together. The httpx pool
holds ``max_concurrency`` connections. A throttled request is retried like any other.

Usage: ``describe()["usage"]`` counts the server's prompt tokens, of which cached (OpenAI and
vLLM ``usage.prompt_tokens_details.cached_tokens``, llama.cpp ``timings.cache_n`` or
``tokens_cached``) and evaluated, apart. Completion.prompt_tokens stays the full prompt.

The API key is read from the environment variable ``api_key_env`` (default
OPENAI_API_KEY; a missing key is fine for local servers). It only ever goes into the
Authorization header: never into a log line, an error message or a file.

Log-likelihood of a given continuation is not something chat servers offer, so the
capability is False.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from clearft.backends.aimd import AIMD, CONGESTION, OK, OTHER
from clearft.backends.base import Backend, Capabilities, Completion, GenerateRequest
from clearft.backends.llamacpp import map_in_threads
from clearft.backends.openai_payload import (
    NO_PREFILL_MIN_TOKENS,
    PAYLOAD_KINDS,
    PREFIX_INSTRUCTION,
    RETRY_STATUS,
    TokenUsage,
    build_payload,
    parse_response,
    parse_usage,
    prefix_instruction_messages,
    retry_delay,
)
from clearft.backends.openai_probe import KIND_OF_PREFILL, ProbeFailed, Prober, kind_for

__all__ = [  # the pure parts live in openai_payload.py; imported from here too
    "NO_PREFILL_MIN_TOKENS", "PAYLOAD_KINDS", "PREFIX_INSTRUCTION", "RETRY_STATUS", "OpenAIBackend",
    "TokenUsage", "build_payload", "parse_response", "parse_usage", "prefix_instruction_messages",
    "retry_delay",
]

CONGESTION_STATUS = frozenset({429, 503})
PROBE_ERROR_RETRIES = 2  # a probe refused with 500 twice more is a refusal (llama.cpp's n)


# ---------------------------------------------------------------------------------------
# I/O


# Asks a caller may stream at once (Capabilities.parallel_requests): enough to keep the gate's
# 256 calls busy with ungrouped samples (k=5) and 64 n-requests in flight where samples are
# grouped, without a thread per queued request.
STREAMED_ASKS = 64


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
        group_samples: bool | None = None,
        max_context: int = 8192,
        server_kind: str | None = None,
        max_concurrency: int = 256,
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
        self.server_kind = server_kind or os.environ.get("CLEARFT_OPENAI_SERVER_KIND") or "auto"
        kind = kind_for(self.server_kind, self.base_url)
        self._prober = Prober(kind, model, self._probe_post, self._redact,
                              source="named" if kind == self.server_kind else "base_url")
        self.gate = AIMD(start=self.concurrency, maximum=max(int(max_concurrency), self.concurrency))
        self._max_context = int(max_context)
        self._key = os.environ.get(api_key_env) or None
        self._transport = transport
        self._client: Any = None
        self._lock = threading.Lock()
        self.retries = 0  # how many times a call was retried (visible to tests and logs)
        self._usage = {"requests": 0, "prompt_tokens": 0, "cached_prompt_tokens": 0,
                       "evaluated_prompt_tokens": 0, "completion_tokens": 0}

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=False,
            # Kept True even where the probe found none: the letter is then read from the
            # text, and every batch of a run asks the same way.
            top_logprobs=True,
            chat_template=True,
            seeded_sampling=not self.grouped(),
            max_context=self._max_context,
            # Asks may come one by one from this many threads; the AIMD gate decides how many
            # calls are in flight (an ask of k ungrouped samples is k calls).
            parallel_requests=min(self.gate.maximum, STREAMED_ASKS),
        )

    @property
    def model_id(self) -> str:
        return f"{self.base_url}|{self.model}"

    def grouped(self) -> bool:
        """Whether a request's n samples go in one request (as far as is known yet)."""
        if self.group_samples is not None:
            return self.group_samples
        return self._prober.profile.n is True

    def describe(self) -> dict[str, Any]:
        grouped = self.grouped()
        server = {**self._prober.profile.to_dict(), "server_kind_option": self.server_kind,
                  "probe_requests": self._prober.probes_sent,
                  "grouped_samples": grouped, "per_sample_seeds": not grouped}
        return {**super().describe(), "server": server, "concurrency": self.gate.snapshot(),
                "usage": self.usage()}

    def usage(self) -> dict[str, int]:
        """Tokens over every answered request (probes included) since the backend opened."""
        with self._lock:
            return dict(self._usage)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        kind, prefix_error = "llamacpp", ""  # kind only shapes requests with a prefix
        if any(r.assistant_prefix for r in requests):
            try:
                kind = KIND_OF_PREFILL[self._prober.prefill()]
            except ProbeFailed as exc:  # asked again on the next call
                prefix_error = self._redact(f"cannot tell how this server takes a prefix: {exc}")
        logprobs = True
        if any(r.top_logprobs for r in requests):
            # No answer: ask for them as requested; probed again on the next call.
            with contextlib.suppress(ProbeFailed):
                logprobs = self._prober.logprobs()
        group = self._group_now(any(r.n > 1 for r in requests))
        jobs: list[tuple[int, GenerateRequest, int | None]] = []
        unsent = {r for r, req in enumerate(requests) if req.assistant_prefix and prefix_error}
        for r, req in enumerate(requests):
            if r in unsent:
                continue
            if group and req.n > 1:
                jobs.append((r, req, None))
            else:
                jobs.extend((r, req, i) for i in range(req.n))

        def call(job: tuple[int, GenerateRequest, int | None]) -> Completion:
            return self._one_call(job, kind, logprobs)

        results = map_in_threads(call, jobs, min(len(jobs), self.gate.maximum))
        parts: list[list[Completion]] = [[] for _ in requests]
        for (r, _, _), comp in zip(jobs, results, strict=True):
            parts[r].append(comp)
        return [Completion(texts=[], error=prefix_error) if r in unsent else _join(p, req.top_logprobs > 0)
                for r, (p, req) in enumerate(zip(parts, requests, strict=True))]

    def _group_now(self, needed: bool) -> bool:
        if self.group_samples is not None or not needed:
            return bool(self.group_samples)
        try:
            return self._prober.n()
        except ProbeFailed:
            return False  # one request per sample works everywhere; probed again next call

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
                size = self.gate.maximum
                self._client = httpx.Client(
                    base_url=self.base_url,
                    headers=headers,
                    timeout=self.timeout,
                    limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                    transport=self._transport,
                )
            return self._client

    def _one_call(self, job: tuple[int, GenerateRequest, int | None], kind: str, logprobs: bool) -> Completion:
        _, req, sample = job
        payload = build_payload(req, self.model, sample, group=sample is None, kind=kind, logprobs=logprobs)
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
        data, _, error = self._post(path, payload)
        return data, error

    def _probe_post(self, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None, str]:
        return self._post("/chat/completions", payload, probe=True)

    def _post(self, path: str, payload: dict[str, Any], probe: bool = False
              ) -> tuple[dict[str, Any] | None, int | None, str]:
        """(reply JSON, None, "") on success; (None, status, reason) when the server refused
        (an HTTP error not retried, or retried to the end); (None, None, reason) when no
        answer came. Every attempt holds a slot of the adaptive concurrency gate."""
        import httpx

        error, status, refused = "", None, False
        for attempt in range(self.max_retries + 1):
            retry_after, status, outcome, pause = None, None, OTHER, 0.0
            epoch = self.gate.acquire()
            try:
                response = self._http().post(path, json=payload)
                status = response.status_code
                if status < 400:
                    data = response.json()
                    if not isinstance(data, dict):
                        raise ValueError(f"a JSON {type(data).__name__}, not an object")
                    outcome = OK
                    self._count(data)
                    return data, None, ""
                error = f"HTTP {status}: {response.text[:300]}"
                retry_after = response.headers.get("retry-after")
                if status in CONGESTION_STATUS:
                    outcome = CONGESTION
                    pause = retry_delay(attempt, retry_after, self.backoff, self.max_backoff)
                if status not in RETRY_STATUS or (probe and self._probe_refused(status, attempt)):
                    refused = True
                    break
            except httpx.TimeoutException as exc:  # a server queueing past the timeout
                outcome, status = CONGESTION, None
                error = f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            except ValueError as exc:  # a 2xx reply that is not JSON
                # Retried: a proxy or an overloaded server can cut or garble one reply; a
                # server that never answers JSON still ends, after max_retries, as an error.
                status, error = None, f"the server's reply is not JSON: {exc}"
            finally:
                self.gate.release(epoch, outcome, pause)
            if attempt < self.max_retries:
                with self._lock:
                    self.retries += 1
                if not pause:  # a throttled retry waits in gate.acquire, with everyone
                    time.sleep(retry_delay(attempt, retry_after, self.backoff, self.max_backoff))
        where = f" (after {attempt + 1} attempts to {self.base_url}{path})"
        # Still throttled (or failing at the gateway) after every retry: no answer, not a refusal.
        return None, status if refused else None, self._redact(error + where)

    @staticmethod
    def _probe_refused(status: int, attempt: int) -> bool:
        """A probe's 500 (llama.cpp's answer to n=2) asked again twice is the server's answer;
        throttling and gateway errors are not."""
        return status not in (408, 429, 502, 503, 504) and attempt >= PROBE_ERROR_RETRIES

    def _count(self, data: dict[str, Any]) -> None:
        usage = parse_usage(data)
        with self._lock:
            u = self._usage
            u["requests"] += 1
            for name, value in asdict(usage).items():
                u[name] += value
            u["evaluated_prompt_tokens"] += usage.evaluated_prompt_tokens

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
        cached_prompt_tokens=sum(p.cached_prompt_tokens for p in parts),
    )
