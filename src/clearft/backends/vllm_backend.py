"""vLLM backend for GPU machines: the offline ``vllm.LLM`` engine in this process (or in a
Ray actor of the ray engine, one engine per replica).

UNTESTED ON A GPU: written against vLLM's documented offline API and tested here only in
its pure parts (payloads and parsing), on plain data shaped like vLLM's outputs.

* Prefix caching is on: the k samples of a request and its reflection rounds share their
  prompt, which vLLM then computes once.
* Sample i of a request is its own vLLM request with ``SamplingParams(n=1, seed=seed + i)``,
  keeping the backend contract (sample i is the same text whether 1 or 10 are asked for,
  the call cache relies on it); prefix caching makes the repeated prompt nearly free.
* Top log-probabilities of the first generated token come from ``logprobs=k``; the
  log-likelihood of a continuation from ``prompt_logprobs`` over prompt + continuation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

# ---------------------------------------------------------------------------------------
# Pure helpers (tested without vLLM)


def sampling_kwargs(req: GenerateRequest, i: int) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments for sample i of a request (seed + i)."""
    kwargs: dict[str, Any] = {
        "n": 1,
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "seed": req.seed + i,
    }
    if req.stop:
        kwargs["stop"] = list(req.stop)
    if req.top_logprobs:
        kwargs["logprobs"] = req.top_logprobs
    return kwargs


def expand_samples(requests: Sequence[GenerateRequest]) -> list[tuple[int, int]]:
    """(request index, sample index) of every vLLM request, in submission order."""
    return [(r, i) for r, req in enumerate(requests) for i in range(req.n)]


def with_assistant_prefix(chat_prompt: str, prefix: str) -> str:
    """The rendered chat prompt (ending with the assistant header) plus the forced start."""
    return chat_prompt + prefix


def first_token_top(logprobs: Sequence[Mapping[Any, Any]] | None) -> dict[str, float]:
    """{token text: log-probability} of the first generated token, from vLLM's per-token
    ``{token id: Logprob(logprob, rank, decoded_token)}`` (here plain dicts or objects)."""
    if not logprobs:
        return {}
    out: dict[str, float] = {}
    for tok_id, lp in logprobs[0].items():
        text = _field(lp, "decoded_token")
        out[str(text if text is not None else tok_id)] = float(_field(lp, "logprob"))
    return out


def parse_sample(output: Mapping[str, Any], want_top: bool) -> Completion:
    """One-sample Completion from a plain view of a vLLM RequestOutput:
    {"prompt_token_ids": [...], "outputs": [{"text", "token_ids", "logprobs"}]}."""
    outs = output.get("outputs") or []
    if not outs:
        return Completion(texts=[], error="vLLM returned no output")
    first = outs[0]
    return Completion(
        texts=[first.get("text") or ""],
        first_token_logprobs=[first_token_top(first.get("logprobs"))] if want_top else None,
        prompt_tokens=len(output.get("prompt_token_ids") or []),
        completion_tokens=len(first.get("token_ids") or []),
    )


def merge_samples(n: int, samples: Sequence[Completion], want_top: bool) -> Completion:
    """One Completion for a request from its n one-sample Completions (first error wins)."""
    for s in samples:
        if not s.ok:
            return Completion(texts=[], error=s.error)
    if len(samples) != n:
        return Completion(texts=[], error=f"expected {n} samples, got {len(samples)}")
    return Completion(
        texts=[s.texts[0] for s in samples],
        first_token_logprobs=[(s.first_token_logprobs or [{}])[0] for s in samples] if want_top else None,
        prompt_tokens=sum(s.prompt_tokens for s in samples),
        completion_tokens=sum(s.completion_tokens for s in samples),
    )


def continuation_logprob(
    prompt_logprobs: Sequence[Mapping[int, Any] | None], full_ids: Sequence[int], n_context: int
) -> LoglikelihoodResult:
    """Sum of the log-probabilities of tokens ``full_ids[n_context:]`` (the continuation),
    read from vLLM's ``prompt_logprobs`` of the full sequence."""
    n = len(full_ids) - n_context
    if n <= 0:
        return LoglikelihoodResult(0.0, 0)
    total = 0.0
    for pos in range(n_context, len(full_ids)):
        entry = prompt_logprobs[pos] if pos < len(prompt_logprobs) else None
        if not entry or full_ids[pos] not in entry:
            return LoglikelihoodResult(0.0, n, error=f"no log-probability for token {pos}")
        total += float(_field(entry[full_ids[pos]], "logprob"))
    return LoglikelihoodResult(total, n)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def plain_output(output: Any) -> dict[str, Any]:
    """A vLLM RequestOutput as the plain dict the parsers read."""
    return {
        "prompt_token_ids": list(output.prompt_token_ids or []),
        "outputs": [{"text": o.text, "token_ids": list(o.token_ids), "logprobs": o.logprobs}
                    for o in output.outputs],
    }


# ---------------------------------------------------------------------------------------
# The backend (thin I/O over vllm.LLM)


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        enable_prefix_caching: bool = True,
        **engine_options: Any,
    ) -> None:
        vllm = require("vllm", "the vllm backend")
        self._vllm = vllm
        self.model = model
        options = {"max_model_len": max_model_len, **engine_options}
        self._llm = vllm.LLM(
            model=model, tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization, dtype=dtype,
            enable_prefix_caching=enable_prefix_caching,
            **{k: v for k, v in options.items() if v is not None},
        )
        self._tokenizer = self._llm.get_tokenizer()
        self._max_context = int(max_model_len or self._llm.llm_engine.model_config.max_model_len)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(loglikelihood=True, top_logprobs=True, chat_template=True,
                            seeded_sampling=True, max_context=self._max_context)

    @property
    def model_id(self) -> str:
        return f"vllm:{self.model}"

    def _chat_prompt(self, messages: list[Message], prefix: str = "") -> str:
        text = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return with_assistant_prefix(str(text), prefix)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        jobs = expand_samples(requests)
        prompts = [self._chat_prompt(requests[r].messages, requests[r].assistant_prefix) for r, _ in jobs]
        params = [self._vllm.SamplingParams(**sampling_kwargs(requests[r], i)) for r, i in jobs]
        try:
            outputs = self._llm.generate(prompts, params, use_tqdm=False)
        except Exception as exc:  # one failed batch: every request reports it, none raises
            return [Completion(texts=[], error=f"vLLM: {type(exc).__name__}: {exc}") for _ in requests]
        per_request: list[list[Completion]] = [[] for _ in requests]
        for (r, _), out in zip(jobs, outputs, strict=True):
            per_request[r].append(parse_sample(plain_output(out), requests[r].top_logprobs > 0))
        return [merge_samples(req.n, per_request[r], req.top_logprobs > 0) for r, req in enumerate(requests)]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        contexts = [self._chat_prompt(req.messages, req.assistant_prefix) for req in requests]
        n_context = [len(self._tokenizer.encode(c, add_special_tokens=False)) for c in contexts]
        fulls = [self._tokenizer.encode(c + req.continuation, add_special_tokens=False)
                 for c, req in zip(contexts, requests, strict=True)]
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        try:
            outputs = self._llm.generate([{"prompt_token_ids": ids} for ids in fulls], params, use_tqdm=False)
        except Exception as exc:
            return [LoglikelihoodResult(0.0, 0, error=f"vLLM: {type(exc).__name__}: {exc}") for _ in requests]
        return [continuation_logprob(out.prompt_logprobs or [], ids, n)
                for out, ids, n in zip(outputs, fulls, n_context, strict=True)]

    def close(self) -> None:
        self._llm = None
