"""The default backend: a GGUF model run in-process by llama.cpp (the `xllamacpp` package).

`xllamacpp.Server` is llama.cpp's own server, embedded: it owns ``n_parallel`` slots that
decode together in one batch, and its ``handle_*`` methods release the GIL. So batching is
a thread pool of ``concurrency`` workers, each sending one sample at a time; the server
interleaves them. The same server also listens on a loopback port, which gives us its
``/tokenize`` and ``/apply-template`` endpoints.

Prefix sharing without losing reproducibility: the k samples of one request run in order
in one slot (pinned with ``id_slot``). The first evaluates the whole prompt afresh
(``cache_prompt: false``); the others find exactly that prompt in the slot's cache and
evaluate only its last token. Reusing a *partial* prefix (left by another request) would be
cheaper still, but where a prompt is split between cache and fresh evaluation changes the
floating-point sums, and with them a sampled text -- so a row's samples would depend on its
neighbours in the batch. This way every sample depends only on its own request and seed.
Each slot also has its own KV buffer (``kv_unified = False``), flash attention is off and
prompts are not mixed into batches of generated tokens, for the same reason. With
``reproducible=False`` (``--fast-unreproducible``) every call may reuse any cached prefix.

Sampling is per sample: sample i of a request is its own call with seed ``seed + i``, so
sample i is the same text whether 1 or 10 samples are asked for (the cache relies on it).

Log-likelihood of a continuation: tokenize it, force exactly those tokens with a GBNF
grammar of token ids (``root ::= <[38634]> <[314]>``) and sum the log-probabilities the
server reports for them. Those are the model's probabilities before sampling (the grammar
only picks the token), which we checked against a transformers forward pass on the same
weights: they agree within about 0.1 nats a token (llama.cpp quantizes activations).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
)
from clearft.deps import require
from clearft.errors import BackendError, ClearftError

DEFAULT_CONCURRENCY = 8  # 16 parallel gave 206 tok/s vs 173 at 4 on 2 cores; 8 keeps memory small
DEFAULT_CONTEXT = 2048  # tokens per slot


# ---------------------------------------------------------------------------------------
# Pure helpers: payloads and parsing (tested without a model)


def token_grammar(token_ids: Sequence[int]) -> str:
    """A GBNF grammar that allows exactly this token sequence."""
    if not token_ids:
        raise ValueError("cannot force an empty token sequence")
    return "root ::= " + " ".join(f"<[{t}]>" for t in token_ids)


def sample_options(req: GenerateRequest, i: int) -> dict[str, Any]:
    """The sampling fields shared by chat and raw completions, for sample i (seed + i)."""
    opts: dict[str, Any] = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "seed": req.seed + i,
        "n": 1,
    }
    if req.stop:
        opts["stop"] = list(req.stop)
    return opts


def chat_payload(req: GenerateRequest, i: int) -> dict[str, Any]:
    payload = {"messages": [dict(m) for m in req.messages], **sample_options(req, i)}
    if req.top_logprobs:
        payload.update(logprobs=True, top_logprobs=req.top_logprobs)
    return payload


def raw_payload(prompt: str, req: GenerateRequest, i: int) -> dict[str, Any]:
    payload = {"prompt": prompt, **sample_options(req, i)}
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


def parse_sample(response: dict[str, Any], want_top: bool) -> Completion:
    """One-sample Completion from a chat or raw completion reply of the llama.cpp server."""
    err = server_error(response)
    if err is not None:
        return Completion(texts=[], error=err)
    choice = response["choices"][0]
    text = choice["message"]["content"] if "message" in choice else choice.get("text", "")
    usage = response.get("usage") or {}
    return Completion(
        texts=[text or ""],
        first_token_logprobs=[_first_token_top(choice)] if want_top else None,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
    )


def merge_samples(req: GenerateRequest, samples: Sequence[Completion]) -> Completion:
    """One Completion for a request from its per-sample Completions (the first error wins)."""
    for s in samples:
        if not s.ok:
            return Completion(texts=[], error=s.error)
    firsts = None
    if req.top_logprobs:
        firsts = [(s.first_token_logprobs or [{}])[0] for s in samples]
    return Completion(
        texts=[s.texts[0] for s in samples],
        first_token_logprobs=firsts,
        prompt_tokens=sum(s.prompt_tokens for s in samples),
        completion_tokens=sum(s.completion_tokens for s in samples),
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


def work_units(requests: Sequence[GenerateRequest], workers: int) -> list[list[tuple[int, int]]]:
    """Split the samples of `requests` into units of (request, sample) that one slot runs in
    order: a request's samples stay together, so all but the first reuse its prompt.

    Greedy requests count one sample (the others are copies). When there are fewer units than
    workers, the largest units are halved until every worker has one: a split costs one more
    prompt evaluation but decodes in parallel.
    """
    units = [[(r, i) for i in range(1 if req.temperature <= 0 else req.n)] for r, req in enumerate(requests)]
    while 0 < len(units) < workers:
        largest = max(range(len(units)), key=lambda u: len(units[u]))
        unit = units[largest]
        if len(unit) < 2:
            break
        half = len(unit) // 2
        units[largest : largest + 1] = [unit[:half], unit[half:]]
    return units


def unit_calls(unit: Sequence[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """(request, sample, reuse the cached prompt) for each call of a unit: only a request's
    first call in the unit evaluates its prompt; the rest reuse exactly that prompt."""
    seen: set[int] = set()
    out = []
    for r, i in unit:
        out.append((r, i, r in seen))
        seen.add(r)
    return out


def map_in_threads(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """fn over items with `workers` threads, results in input order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


# ---------------------------------------------------------------------------------------
# The backend


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """CLEARFT_LLAMA_THREADS, else every core -- or half of them when the machine is busy.

    ggml's threads wait for each other at every layer; when a thread gets descheduled, the
    others stall. Measured on a 2-core machine: quiet, 2 threads decode about twice as fast
    as 1 (97 vs ~50 tokens/s, one sequence); under a load average of ~20, 2 threads gave
    0.3-1.2 tokens/s and 1 thread 9-10.5. So the 1-minute load average at start decides:
    above half the cores, use half of them.
    """
    env = os.environ.get("CLEARFT_LLAMA_THREADS")
    if env:
        return max(1, int(env))
    cores = cores or os.cpu_count() or 2
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            load = 0.0
    return max(1, cores // 2) if load > cores / 2 else cores


def start_server(
    model_path: str | Path,
    parallel: int,
    context: int,
    threads: int | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    verbose: bool = False,
    reproducible: bool = True,
) -> Any:
    """Start an in-process llama.cpp server (also listening on host:port; 0 = any free port).

    `reproducible` trades some parallel throughput for samples that do not depend on what
    the other slots are doing (see the three settings below); False keeps llama.cpp's own
    defaults."""
    xllamacpp = require("xllamacpp", "the llamacpp backend")
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_parallel = parallel
    params.n_ctx = context * parallel  # llama.cpp splits n_ctx evenly between slots
    n_threads = threads or default_threads()
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.warmup = False
    if reproducible:
        # One KV buffer per slot, not one shared by all: attention then reads only the slot's own
        # cells, so a seeded sample decodes to the same text whatever runs beside it and whatever
        # ran before it. Measured: with the shared buffer, 0 of 12 seeded samples repeated between
        # a sequential and a parallel pass (or even two sequential passes); per slot, 12 of 12.
        params.kv_unified = False
        # No flash attention: on CPU it sums differently when several sequences are evaluated in
        # one batch. Measured: the same reflection prompt's letter log-probabilities moved by up to
        # 0.2 nats when other rows' prompts were evaluated beside it; without it, not at all.
        params.flash_attn_type = 0
        # No continuous batching: a prompt is then never evaluated in the same batch as other
        # slots' generated tokens, which also changed its log-probabilities (reflection P(A/B/C)
        # moved by ~0.01 between one-at-a-time and batched scoring). Measured cost on 8 FPB rows
        # (preset medium, 8 slots): none beyond run-to-run noise (47.2 s vs 42.5-46.5 s);
        # what all three cost in peak throughput: BENCHMARKS.md, scoring speed.
        params.cont_batching = False
    params.hostnames = [host]
    params.port = port
    # llama.cpp logs every slot event at info level; -1 keeps it to nothing unless asked.
    params.verbosity = 3 if verbose else -1
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # the C++ side raises plain RuntimeError on a bad file
        raise BackendError(f"llama.cpp could not load {model_path}: {exc}") from exc


class LlamaCppBackend(Backend):
    name = "llamacpp"

    def __init__(
        self,
        model: str | Path | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        context: int = DEFAULT_CONTEXT,
        threads: int | None = None,
        verbose: bool | None = None,
        reproducible: bool = True,
    ) -> None:
        from clearft.models import default_gguf_path, file_identity

        self.model_path = Path(model) if model else default_gguf_path()
        if not self.model_path.is_file():
            raise ClearftError(f"no GGUF model file at {self.model_path}")
        self.concurrency = max(1, int(concurrency))
        self.context = int(context)
        self.reproducible = reproducible
        if verbose is None:
            verbose = bool(os.environ.get("CLEARFT_LLAMA_VERBOSE"))
        self._model_id = f"gguf:{self.model_path.name}:{file_identity(self.model_path)}"
        self._server: Any = start_server(
            self.model_path, self.concurrency, self.context, threads=threads, verbose=verbose,
            reproducible=reproducible,
        )
        self._address: str = self._server.listening_address
        self._http: Any = None
        self._templates: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- contract -------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=True,
            top_logprobs=True,
            chat_template=True,
            seeded_sampling=True,
            max_context=self.context,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        # Greedy samples are identical whatever the seed: decode one, copy it n times.
        units = work_units(requests, self.concurrency)
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.concurrency):
            slots.put(slot)

        def run_unit(unit: list[tuple[int, int]]) -> list[Completion]:
            slot = slots.get()  # a unit holds one slot, so its prompt stays cached there
            try:
                return [self._one_sample(requests[r], i, slot, reuse) for r, i, reuse in unit_calls(unit)]
            finally:
                slots.put(slot)

        by_request: list[list[Completion]] = [[] for _ in requests]
        for unit, done in zip(units, map_in_threads(run_unit, units, self.concurrency), strict=True):
            for (r, _), c in zip(unit, done, strict=True):
                by_request[r].append(c)
        out = []
        for r, req in enumerate(requests):
            samples = by_request[r]
            merged = merge_samples(req, samples * req.n if len(samples) < req.n else samples)
            if len(samples) < req.n:  # copies cost nothing: count the one decode
                merged.prompt_tokens = samples[0].prompt_tokens
                merged.completion_tokens = samples[0].completion_tokens
            out.append(merged)
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return map_in_threads(self._one_loglikelihood, list(requests), self.concurrency)

    def close(self) -> None:
        # The C++ destructor stops the server's loop and frees the model.
        self._server = None
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- helpers ----------------------------------------------------------------------

    def _live_server(self) -> Any:
        if self._server is None:
            raise BackendError("the llamacpp backend was closed")
        return self._server

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(base_url=self._address, timeout=600.0)
        response = self._http.post(path, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def tokenize(self, text: str) -> list[int]:
        return [int(t) for t in self._post("/tokenize", {"content": text})["tokens"]]

    def render_chat(self, messages: list[Message]) -> str:
        """The model's chat template applied to messages, ending where the assistant starts."""
        import json

        key = json.dumps(messages, sort_keys=True)
        prompt = self._templates.get(key)
        if prompt is None:
            prompt = str(self._post("/apply-template", {"messages": messages})["prompt"])
            if len(self._templates) > 4096:  # the same prompt recurs within a batch, not across
                self._templates.clear()
            self._templates[key] = prompt
        return prompt

    def _one_sample(self, req: GenerateRequest, i: int, slot: int = -1, reuse: bool = False) -> Completion:
        try:
            server = self._live_server()
            # Reproducible: a unit's first call evaluates its prompt afresh (a partial prefix left
            # by another request would change the sums). Otherwise any cached prefix is reused.
            pin = {"id_slot": slot, "cache_prompt": reuse or not self.reproducible}
            if req.assistant_prefix:
                # Chat endpoints cannot start the assistant turn for us: render the template
                # as text, append the prefix, continue with a raw completion.
                prompt = self.render_chat(req.messages) + req.assistant_prefix
                response = server.handle_completions({**raw_payload(prompt, req, i), **pin})
            else:
                response = server.handle_chat_completions({**chat_payload(req, i), **pin})
            return parse_sample(response, want_top=req.top_logprobs > 0)
        except Exception as exc:  # one bad row must not kill the batch
            return Completion(texts=[], error=f"{type(exc).__name__}: {exc}")

    def _one_loglikelihood(self, req: LoglikelihoodRequest) -> LoglikelihoodResult:
        try:
            if not req.continuation:
                return LoglikelihoodResult(logprob=0.0, n_tokens=0)
            prompt = self.render_chat(req.messages) + req.assistant_prefix
            ids = self.tokenize(req.continuation)
            payload = {
                "prompt": prompt,
                "grammar": token_grammar(ids),
                "max_tokens": len(ids),
                "n_probs": 1,
                "temperature": 0.0,
                "n": 1,
                # The server's prompt cache stays on here: scoring a row against every label
                # (cross-fit label-prob) repeats one prompt per label, and evaluating it afresh
                # each time made 77-label BANKING77 rows about 10x slower.
            }
            return forced_logprob(self._live_server().handle_completions(payload), ids)
        except Exception as exc:  # one bad row must not kill the batch
            return LoglikelihoodResult(logprob=0.0, n_tokens=0, error=f"{type(exc).__name__}: {exc}")
