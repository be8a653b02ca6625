"""The default backend: a GGUF model run in-process by llama.cpp (the `xllamacpp` package).

`xllamacpp.Server` is llama.cpp's own server, embedded: it owns ``n_parallel`` slots that
decode together in one batch, and its ``handle_*`` methods release the GIL. So a batch goes
to a thread pool of ``in_flight`` workers, each sending one call at a time; the server
interleaves them. By default ``in_flight`` is 1 (prompt reuse, below): the ``concurrency``
slots then serve a call's k samples, side by side, and keep earlier prompts to reuse. The
same server also listens on a loopback port, which gives us its ``/tokenize`` and
``/apply-template`` endpoints. Payloads and reply parsing:
``llamacpp_payload.py``.

The k samples of a request are one call (``n_cmpl``, at most one per slot): the server
evaluates the prompt once, copies it to the other slots and decodes the samples side by
side; child i samples with seed ``seed + i``, clearft's own convention, so sample i is the
same text whether 1 or 10 samples are asked for (the call cache relies on it).

Reproducibility (the default): a call's result must not depend on what ran before or beside
it. Each slot has its own KV buffer (``kv_unified = False``) and flash attention is off
(measured: see ``REPRODUCIBLE_SETTINGS``). With parallel slots every prompt is evaluated
afresh (``cache_prompt: false``) unless reuse gives the same numbers: a prompt prefix left in
a slot by an earlier request is reused only where that gives the fresh evaluation's exact
numbers, which needs calls sent one at a time (``in_flight`` 1; a call's k samples still
decode side by side, one slot each; why and how it is checked: ``llamacpp_reuse``). That is
the default (session 20, bench/results/scoring.md: on BSDetector as fast as parallel calls
within this machine's noise, 28-42% fewer prompt tokens evaluated, and scores bit-identical
whatever the batch and its order, which parallel calls are not quite);
``CLEARFT_LLAMA_PROMPT_REUSE=0`` (or ``false``, ``off``, ``no``), or an explicit ``in_flight``
above 1, sends that many calls at once, every prompt afresh.
With ``reproducible=False`` (``--fast-unreproducible``) every call may reuse any cached prefix
and llama.cpp keeps its own settings.

Log-likelihood of a continuation of at least ``PROMPT_RATE_MIN_TOKENS`` tokens: one forward
pass over prompt + continuation, by the first of these that starts and agrees with the
forced path on a probe (``llamacpp_loglik.ForwardPass``):

* ``torch``: the same GGUF loaded by transformers (``llamacpp_loglik.TorchForward``), fed
  llama.cpp's token ids, one request at a time -- 4.4x the forced path on IFD's GSM8K requests;
* ``hidden-states``: a second, one-slot llama.cpp server that returns every position's final
  hidden state (``/embedding``, pooling none), times the GGUF's output matrix -- llama.cpp's
  own prompt rate, 1.6x the forced path (decoding 8 slots together is nearly as fast here).

Shorter ones (labels), and every one when neither is available: tokenize the continuation,
force exactly those tokens with a GBNF grammar of token ids (``root ::= <[38634]> <[314]>``)
and sum the log-probabilities the server reports for them, one decode step a token, with the
prompt taken from the slot's cache when the previous request shared it (with
``--fast-unreproducible``; the reproducible default evaluates it afresh). Those are the model's
probabilities before sampling (the grammar only picks the token), which we checked against a
transformers forward pass on the same weights: they agree within about 0.1 nats a token
(llama.cpp quantizes activations). Which path scores a request depends only on its own
continuation and the machine's install, so a score does not depend on the batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
)
from clearft.backends.llamacpp_loglik import PROMPT_RATE_PATHS, ForwardPass
from clearft.backends.llamacpp_payload import (
    add_usage,
    chat_payload,
    forced_logprob,
    map_in_threads,
    merge_calls,
    parse_reply,
    plan_calls,
    raw_payload,
    reported_cached_tokens,
    server_error,
    token_grammar,
    without_thinking,
)
from clearft.backends.llamacpp_reuse import PromptReuseGuard
from clearft.backends.llamacpp_start import (
    REPRODUCIBLE_SETTINGS,
    UBATCH,
    default_threads,
    start_server,
)
from clearft.errors import BackendError, ClearftError

# Slots: a call's k samples (at most one each) and the prompts kept for reuse; with reuse off,
# calls at once (16 parallel gave 206 tok/s vs 173 at 4 on 2 cores; 8 keeps memory small).
DEFAULT_CONCURRENCY = 8
DEFAULT_CONTEXT = 2048  # tokens per slot
# Continuations this long or longer are scored in one forward pass (bench/loglik_speed.py);
# shorter ones (labels) by forcing their few tokens (with --fast-unreproducible, a prompt shared
# by a row's labels comes from the slot's cache instead of being evaluated again for each).
PROMPT_RATE_MIN_TOKENS = 16


T = TypeVar("T")

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_CONTEXT", "PROMPT_RATE_MIN_TOKENS", "PROMPT_RATE_PATHS",
           "REPRODUCIBLE_SETTINGS", "LlamaCppBackend", "default_threads", "map_in_threads", "start_server"]


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
        reuse_prompts: bool | None = None,
        in_flight: int | None = None,
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
        if reuse_prompts is None:
            # On unless turned off, or unless the caller asked for several calls at once.
            off = os.environ.get("CLEARFT_LLAMA_PROMPT_REUSE", "").strip().lower() in ("0", "false", "off", "no")
            reuse_prompts = not off and (in_flight is None or int(in_flight) <= 1)
        # Reproducible prefix reuse (None: every prompt afresh, or any reuse when not reproducible).
        self._reuse = PromptReuseGuard(UBATCH) if reproducible and reuse_prompts else None
        # Calls sent at once: one while reusing, since after a cached prefix a prompt evaluated
        # beside another sequence's tokens is not exact (the module docstring).
        if in_flight is None:
            in_flight = 1 if self._reuse is not None else self.concurrency
        self.in_flight = max(1, min(int(in_flight), self.concurrency))
        if self._reuse is not None and self.in_flight > 1:
            raise ClearftError("llamacpp: prompt reuse needs calls one at a time (in_flight 1); "
                               f"got in_flight {self.in_flight}")
        self._gate = threading.BoundedSemaphore(self.in_flight)  # across callers' threads too
        self.reuse_redone = 0  # calls whose cached attempt was refused and sent again afresh
        self._server: Any = start_server(
            self.model_path, self.concurrency, self.context, threads=threads, verbose=verbose,
            reproducible=reproducible, ram_prompt_cache=self._reuse is None,
        )
        self._address: str = self._server.listening_address
        self._http: Any = None
        self._templates: dict[str, str] = {}
        self._lock = threading.Lock()
        self.forward = ForwardPass(self.model_path, self.context, threads, reproducible, tokenize=self.tokenize,
                                   render_chat=self.render_chat, forced=self._forced_loglikelihood)

    # -- contract -------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=True,
            top_logprobs=True,
            chat_template=True,
            seeded_sampling=True,
            max_context=self.context,
            parallel_requests=self.in_flight,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        calls = plan_calls(requests, self.concurrency)
        done = map_in_threads(lambda call: self._gated(self._call, requests[call[0]], call[1], call[2]),
                              calls, self.in_flight)
        parts: list[list[Completion]] = [[] for _ in requests]
        for (r, _, _), c in zip(calls, done, strict=True):
            parts[r].append(c)
        return [merge_calls(req, got) for req, got in zip(requests, parts, strict=True)]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return map_in_threads(lambda req: self._gated(self._one_loglikelihood, req), list(requests), self.in_flight)

    def close(self) -> None:
        # The C++ destructor stops the server's loop and frees the model.
        self._server = None
        self.forward.stop()
        if self._http is not None:
            self._http.close()
        self._http = None

    # -- helpers ----------------------------------------------------------------------

    def _gated(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) while holding one of the `in_flight` places."""
        with self._gate:
            return fn(*args)

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

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        """The model's token ids for text; `add_special`: as a whole prompt (BOS and the like)."""
        body: dict[str, Any] = {"content": text, "add_special": True} if add_special else {"content": text}
        return [int(t) for t in self._post("/tokenize", body)["tokens"]]

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

    def _call(self, req: GenerateRequest, first: int, count: int) -> Completion:
        """Samples first..first+count-1 of `req` in one server call."""
        try:
            server = self._live_server()
            if self._reuse is not None:
                response = self._guarded_call(req, first, count)
            elif req.assistant_prefix:
                # Chat endpoints cannot start the assistant turn for us: render the template
                # as text, append the prefix, continue with a raw completion.
                prompt = self.render_chat(req.messages) + req.assistant_prefix
                response = server.handle_completions(
                    {**raw_payload(prompt, req, first, count), "cache_prompt": not self.reproducible})
            else:
                response = server.handle_chat_completions(
                    {**chat_payload(req, first, count), "cache_prompt": not self.reproducible})
            done = parse_reply(response, want_top=req.top_logprobs > 0)
            if count > 1 and done.ok:
                # The server's usage counts one child's generated tokens (measured: 3 children
                # of 24 tokens reported 24); count every sample's with the model's tokenizer.
                done.completion_tokens = sum(len(self.tokenize(t)) for t in done.texts)
            return done
        except Exception as exc:  # one bad row must not kill the batch
            return Completion(texts=[], error=f"{type(exc).__name__}: {exc}")

    def _guarded_call(self, req: GenerateRequest, first: int, count: int) -> dict[str, Any]:
        """The reply to `req` as a fresh evaluation would give it, taking the prompt's prefix
        from a slot's cache where the guard can tell that changes nothing."""
        assert self._reuse is not None
        # The chat template rendered as text, as the chat endpoint would (same token ids:
        # checked on BSDetector's prompts), so that the guard sees the tokens the server does.
        text = self.render_chat(req.messages) + (req.assistant_prefix or "")
        ids = self.tokenize(text, add_special=True)
        payload = {**raw_payload("", req, first, count), "prompt": ids}
        if self._reuse.may_reuse(ids):
            response, accepted = self._settled(ids, {**payload, "cache_prompt": True})
            if not accepted:
                with self._lock:
                    self.reuse_redone += 1
                refused = response
                response, _ = self._settled(ids, {**payload, "cache_prompt": False})
                response = add_usage(response, refused)  # the refused attempt's tokens were spent too
        else:
            response, _ = self._settled(ids, {**payload, "cache_prompt": False})
        # The chat endpoint would have split a thinking model's reasoning off the reply.
        return response if req.assistant_prefix else without_thinking(response)

    def _settled(self, ids: list[int], payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The server's reply to payload, and whether to keep it: the guard accepted the reuse
        it made (a fresh evaluation always), or it is an error reply, to be reported."""
        assert self._reuse is not None
        ticket = self._reuse.begin(ids)
        cached: int | None = None  # a failed call, or a reply that does not say: not trusted
        try:
            response: dict[str, Any] = self._live_server().handle_completions(payload)
            if server_error(response) is None:
                cached = reported_cached_tokens(response) if payload["cache_prompt"] else 0
        finally:
            accepted = self._reuse.end(ticket, cached)
        return response, accepted or server_error(response) is not None

    def _one_loglikelihood(self, req: LoglikelihoodRequest) -> LoglikelihoodResult:
        try:
            if not req.continuation:
                return LoglikelihoodResult(logprob=0.0, n_tokens=0)
            prompt = self.render_chat(req.messages) + req.assistant_prefix
            ids = self.tokenize(req.continuation)
            if len(ids) >= PROMPT_RATE_MIN_TOKENS and self.forward.ready():
                return self.forward.loglikelihood(self.forward.path or "", prompt, ids)
            return self._forced_loglikelihood(prompt, ids)
        except Exception as exc:  # one bad row must not kill the batch
            return LoglikelihoodResult(logprob=0.0, n_tokens=0, error=f"{type(exc).__name__}: {exc}")

    def _forced_loglikelihood(self, prompt: str, ids: list[int]) -> LoglikelihoodResult:
        """One decode step per continuation token, each forced by a grammar."""
        payload = {
            "prompt": prompt,
            "grammar": token_grammar(ids),
            "max_tokens": len(ids),
            "n_probs": 1,
            "temperature": 0.0,
            "n": 1,
            # Reproducible (the default): the prompt is evaluated afresh, even under the guard
            # (a label's prompt is the same for each label, and a whole cached prompt is never
            # exact: llamacpp_reuse). A prefix another request left in the slot splits the
            # evaluation elsewhere and moved a
            # sum by 0.12 nats (tests/test_backend_llamacpp.py: a row scored alone vs in a
            # batch). --fast-unreproducible keeps the cache: scoring a row against every label
            # (cross-fit label-prob) repeats one prompt per label, and evaluating it afresh
            # each time made 77-label BANKING77 rows about 10x slower.
            "cache_prompt": not self.reproducible,
        }
        if self._reuse is None:
            response = self._live_server().handle_completions(payload)
        else:
            # The slot then holds the prompt and the forced tokens, each decoded as a one-row
            # batch: the guard must know, so that no later prompt reuses past this one's end.
            response, _ = self._settled(self.tokenize(prompt, add_special=True), payload)
        return forced_logprob(response, ids)
