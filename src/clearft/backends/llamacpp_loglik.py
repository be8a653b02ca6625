"""Log-likelihoods from llama.cpp at its prompt rate: one batched forward pass, not one decode
step per token.

llama.cpp's server reports log-probabilities only for tokens it generates, so forcing a
continuation token by token (``llamacpp_payload.token_grammar``) runs at decode speed. Its
``/embedding`` endpoint, on a server started with ``embedding`` on and pooling ``none``,
returns every position's final hidden state (after the output norm) from one prompt
evaluation. The model's output matrix times those states gives the logits, so the
continuation's log-probabilities are a log-softmax away. This module holds that arithmetic
and reads the output matrix from the GGUF file; ``llamacpp.py`` does the I/O.

What differs from the forced path: llama.cpp evaluates the tokens in one batch instead of
one at a time and multiplies by the output matrix in float32 here instead of with its
quantized kernels. Measured on GSM8K solutions (bench/loglik_speed.py,
bench/results/scoring.md session 12), the two agree within 0.018 nats a token on average
(``TorchForward``, below: within 0.035).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
        import threading

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
