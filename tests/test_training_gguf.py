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
def test_exported_base_model_matches_the_original_gguf(tmp_path: Path) -> None:
    """The plain copy of the embedded model, exported back to GGUF, answers like the original
    (same greedy text; first-token log-probabilities within llama.cpp's Q4 kernel noise)."""
    from clearft.backends.base import GenerateRequest
    from clearft.backends.registry import load_backend
    from clearft.models import default_gguf_path
    from clearft.training import ensure_base_model
    from clearft.training.gguf_export import export_gguf

    out = export_gguf(ensure_base_model(), default_gguf_path(), tmp_path / "base.gguf", "f32")
    req = GenerateRequest(messages=[{"role": "user", "content": "What is the capital of France?"}],
                          max_tokens=8, top_logprobs=5)
    replies = []
    for options in ({}, {"model": str(out)}):
        backend = load_backend("llamacpp", **options)
        try:
            replies.append(backend.generate([req])[0])
        finally:
            backend.close()
    original, exported = replies
    assert original.ok and exported.ok
    assert exported.texts[0].split()[:1] == original.texts[0].split()[:1]
    assert original.first_token_logprobs and exported.first_token_logprobs
    top = max(original.first_token_logprobs[0], key=original.first_token_logprobs[0].get)
    assert abs(exported.first_token_logprobs[0][top] - original.first_token_logprobs[0][top]) < 0.3
