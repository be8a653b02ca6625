"""Log-likelihoods from llama.cpp at its prompt rate: one batched forward pass, not one decode
step per token.

llama.cpp's server reports log-probabilities only for tokens it generates, so forcing a
continuation token by token (``llamacpp_payload.token_grammar``) runs at decode speed. Its
``/embedding`` endpoint, on a server started with ``embedding`` on and pooling ``none``,
returns every position's final hidden state (after the output norm) from one prompt
evaluation. The model's output matrix times those states gives the logits, so the
continuation's log-probabilities are a log-softmax away. This module holds that arithmetic,
reads the output matrix from the GGUF file and keeps the forward-pass paths a backend has
started (``ForwardPass``); ``llamacpp.py`` sends the requests and keeps the forced path.

What differs from the forced path: llama.cpp evaluates the tokens in one batch instead of
one at a time and multiplies by the output matrix in float32 here instead of with its
quantized kernels. Measured on GSM8K solutions (bench/loglik_speed.py,
bench/results/scoring.md session 12), the two agree within 0.018 nats a token on average
(``TorchForward``, below: within 0.035).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clearft.backends.base import LoglikelihoodResult, Message
from clearft.backends.llamacpp_payload import server_error
from clearft.backends.llamacpp_start import start_server
from clearft.errors import BackendError

# The forward-pass paths in the order tried; CLEARFT_LOGLIK_PATHS=hidden-states (say) skips torch,
# CLEARFT_LOGLIK_PATHS= (empty) forces every continuation as before session 12.
PROMPT_RATE_PATHS = ("torch", "hidden-states")
# A forward-pass path must agree with the forced path on a probe continuation within this
# many nats a token on average, checked once per backend before it is used (a model whose
# logits are not plainly hidden @ output would fail it and keep the forced path).
PROMPT_RATE_PROBE_TOLERANCE = 0.1
_PROBE = ([{"role": "user", "content": "Count from one to twenty in words, separated by commas."}],
          "one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve")

# Architectures whose logits are not plainly hidden @ output.T: a GGUF with any of these
# keys is scored on the forced path instead.
_LOGIT_TRANSFORM_KEYS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def continuation_logprobs(hidden: Any, output: Any, targets: Sequence[int]) -> Any:
    """Log-probabilities of `targets` (one per row of `hidden`) under softmax(hidden @ output.T).

    hidden: (n, d) final hidden states, row t predicting targets[t]; output: (vocab, d)."""
    import numpy as np

    h = np.asarray(hidden, dtype=np.float32)
    if h.ndim != 2 or h.shape[0] != len(targets):
        raise ValueError(f"{h.shape[0] if h.ndim == 2 else h.shape} hidden states for {len(targets)} tokens")
    logits = h @ output.T
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return logits[np.arange(len(targets)), np.asarray(targets)] - log_z


def load_output_matrix(gguf_path: str | Path) -> Any:
    """The output (unembedding) matrix of a GGUF as float32 (vocab, d): ``output.weight``, or
    the token embeddings when they are tied. Raises ValueError for a model whose logits are
    transformed further (soft-capping, a logit scale) or a tensor type gguf cannot expand."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(gguf_path))
    for key in reader.fields:
        if key.rsplit(".", 1)[-1] in _LOGIT_TRANSFORM_KEYS:
            raise ValueError(f"the model transforms its logits ({key}); scored by forcing tokens instead")
    tensors = {t.name: t for t in reader.tensors}
    tensor = tensors.get("output.weight") or tensors.get("token_embd.weight")
    if tensor is None:
        raise ValueError("no output.weight or token_embd.weight in the GGUF")
    dim = int(tensor.shape[0])
    matrix = dequantize(tensor.data, tensor.tensor_type)
    return np.ascontiguousarray(matrix.reshape(-1, dim), dtype=np.float32)


class TorchForward:
    """The same GGUF loaded by transformers (float32, on CPU), scoring one request at a time
    from token ids llama.cpp's tokenizer made (the GGUF's own vocabulary, so the same ids).

    Measured on this project's 2-core CPU (bench/loglik_speed.py, IFD's requests for 20 GSM8K
    rows): 519 tokens/s against 190 for llama.cpp's own forward pass. One request at a time,
    never padded, so a request's sums do not depend on what else is scored. A lock keeps one
    forward pass running at a time (each already uses every core)."""

    def __init__(self, gguf_path: str | Path) -> None:
        from clearft.deps import require

        self._torch = require("torch", "prompt-rate log-likelihoods with torch")
        transformers = require("transformers", "prompt-rate log-likelihoods with torch")
        require("gguf", "loading a GGUF file with transformers")
        path = Path(gguf_path)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=self._torch.float32, local_files_only=True,
        ).eval()
        self._lock = threading.Lock()

    def logprobs(self, prompt_ids: Sequence[int], ids: Sequence[int]) -> list[float]:
        """The log-probability of each continuation token after prompt_ids."""
        torch = self._torch
        feed = torch.tensor([[*prompt_ids, *ids[:-1]]])
        with self._lock, torch.no_grad():
            # Only the positions that predict a continuation token go through the output matrix.
            logits = self.model(input_ids=feed, logits_to_keep=len(ids)).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)[torch.arange(len(ids)), torch.tensor(list(ids))]
        return [float(x) for x in lp]


class ForwardPass:
    """The forward-pass log-likelihood paths of one llama.cpp backend: ``path`` is the one in
    use, chosen on first use (``ready``): None = not tried yet, "" = none (every request on
    the forced path; ``note`` says why each was passed over).

    `tokenize(text, add_special)`, `render_chat(messages)` and `forced(prompt, ids)` are the
    backend's: the probe compares a path with the forced path on the same tokens."""

    def __init__(self, model_path: Path, context: int, threads: int | None, reproducible: bool, *,
                 tokenize: Callable[[str, bool], list[int]], render_chat: Callable[[list[Message]], str],
                 forced: Callable[[str, list[int]], LoglikelihoodResult]) -> None:
        self.model_path, self.context, self.threads, self.reproducible = model_path, context, threads, reproducible
        self._tokenize, self._render_chat, self._forced = tokenize, render_chat, forced
        self.path: str | None = None
        self.note = ""
        self._torch: TorchForward | None = None
        self._scorer: Any = None  # the one-slot hidden-states server, and its client
        self._scorer_http: Any = None
        self._output: Any = None
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """On first use, start the paths in order until one agrees with the forced path on a
        probe; False when none does."""
        with self._lock:
            if self.path is None:
                self.path = ""
                notes = []
                env = os.environ.get("CLEARFT_LOGLIK_PATHS")  # empty: the forced path only
                wanted = PROMPT_RATE_PATHS if env is None else [p.strip() for p in env.split(",") if p.strip()]
                for path in wanted:
                    try:
                        self.start(path)
                        self.path = path
                        break
                    except Exception as exc:
                        notes.append(f"{path}: {type(exc).__name__}: {exc}")
                        self.stop()
                self.note = "; ".join(notes)
            return bool(self.path)

    def loglikelihood(self, path: str, prompt: str, ids: list[int]) -> LoglikelihoodResult:
        """One forward pass over prompt + continuation (but its last token, which predicts
        nothing wanted), alone and afresh: its sums do not depend on what else is scored."""
        prompt_ids = self._tokenize(prompt, True)
        if not prompt_ids:
            return self._forced(prompt, ids)
        if path == "torch":
            assert self._torch is not None
            return LoglikelihoodResult(logprob=sum(self._torch.logprobs(prompt_ids, ids)), n_tokens=len(ids))
        response = self._scorer_http.post("/embedding", json={"content": prompt_ids + ids[:-1], "embd_normalize": -1})
        body = response.json()
        if isinstance(body, dict):  # the server's error object
            return LoglikelihoodResult(0.0, 0, error=server_error(body) or str(body)[:200])
        response.raise_for_status()
        hidden = body[0]["embedding"][len(prompt_ids) - 1:]
        return LoglikelihoodResult(logprob=float(continuation_logprobs(hidden, self._output, ids).sum()),
                                   n_tokens=len(ids))

    def start(self, path: str) -> None:
        """Start `path` and check it on the probe; raises BackendError if it disagrees."""
        if path == "torch":
            self._torch = TorchForward(self.model_path)
        elif path == "hidden-states":
            import httpx

            self._output = load_output_matrix(self.model_path)
            self._scorer = start_server(self.model_path, 1, self.context, threads=self.threads, verbose=False,
                                        reproducible=self.reproducible, hidden_states=True)
            self._scorer_http = httpx.Client(base_url=self._scorer.listening_address, timeout=600.0)
        else:
            raise BackendError(f"unknown log-likelihood path {path!r} (known: {', '.join(PROMPT_RATE_PATHS)})")
        messages, text = _PROBE
        prompt = self._render_chat(messages)
        ids = self._tokenize(text, False)
        fast = self.loglikelihood(path, prompt, ids)
        forced = self._forced(prompt, ids)
        if not (fast.ok and forced.ok):
            raise BackendError(f"probe failed: {fast.error or forced.error}")
        gap = abs(fast.logprob - forced.logprob) / len(ids)
        if gap > PROMPT_RATE_PROBE_TOLERANCE:
            raise BackendError(f"probe disagrees with the forced path by {gap:.3f} nats a token")

    def stop(self) -> None:
        if self._scorer_http is not None:
            self._scorer_http.close()
        self._torch = self._scorer = self._scorer_http = self._output = None
