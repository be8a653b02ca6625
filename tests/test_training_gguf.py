"""GGUF export of a merged model: weight layout (pure) and a real round trip through llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearft.training.gguf_export import permute_qk


@pytest.mark.parametrize("n_head, n_kv", [(9, 9), (9, 3)])
def test_permute_qk_is_undone_by_transformers_gguf_reader(n_head: int, n_kv: int) -> None:
    """transformers un-permutes q/k when it reads a GGUF; our permutation must be its inverse."""
    pytest.importorskip("transformers")
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS

    head_dim, hidden = 8, 12
    rows = (n_kv if n_kv != n_head else n_head) * head_dim
    weights = np.arange(rows * hidden, dtype=np.float32).reshape(rows, hidden)
    processor = TENSOR_PROCESSORS["llama"](config={"num_attention_heads": n_head,
                                                   "num_key_value_heads": n_kv})
    name = "blk.0.attn_k.weight" if n_kv != n_head else "blk.0.attn_q.weight"
    permuted = permute_qk(weights, n_head, n_kv)
    assert not np.array_equal(permuted, weights)
    restored = processor.process(permuted, name).weights
    assert np.array_equal(restored, weights)


@pytest.mark.slow
def test_exported_gguf_answers_like_the_weights_it_came_from(tmp_path: Path) -> None:
    """The plain copy of the embedded model, exported to an f32 GGUF, gives in llama.cpp the
    greedy text and first-token log-probabilities that transformers gives on the same weights.
    (The original Q4_1 file is no reference: llama.cpp's Q4 kernels shift its answers.)"""
    from clearft.backends.base import GenerateRequest
    from clearft.backends.registry import load_backend
    from clearft.models import default_gguf_path
    from clearft.training import ensure_base_model
    from clearft.training.gguf_export import export_gguf

    plain = ensure_base_model()
    out = export_gguf(plain, default_gguf_path(), tmp_path / "base.gguf", "f32")
    req = GenerateRequest(messages=[{"role": "user", "content": "What is the capital of France?"}],
                          max_tokens=8, top_logprobs=5)
    replies = []
    for name, options in (("transformers", {"model": str(plain)}), ("llamacpp", {"model": str(out)})):
        backend = load_backend(name, **options)
        try:
            replies.append(backend.generate([req])[0])
        finally:
            backend.close()
    reference, exported = replies
    assert reference.ok and exported.ok
    assert exported.texts[0].strip() == reference.texts[0].strip()
    assert reference.first_token_logprobs and exported.first_token_logprobs
    ref, got = reference.first_token_logprobs[0], exported.first_token_logprobs[0]
    top = max(ref, key=lambda token: ref[token])
    assert abs(got[top] - ref[top]) < 0.05
