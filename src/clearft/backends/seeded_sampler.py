"""Seeded sampling inside a batched `generate`: each row's tokens come from its own seed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clearft.deps import require


def seeded_sampler(seeds: Sequence[int], max_tokens: int, temperature: float, prompt_width: int, device: str) -> Any:
    """A logits processor that samples row j's next token from its own uniforms (drawn from a
    generator seeded seeds[j]) by inverse CDF over softmax(logits / temperature), and returns a
    score that greedy decoding can only follow. A row's tokens then depend on its seed and its
    own logits, not on which rows share its batch or on torch's global random state."""
    torch = require("torch")
    transformers = require("transformers")
    uniforms = torch.stack([
        torch.rand(max(1, max_tokens), generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
        for seed in seeds
    ]).to(device)

    processor: Any = transformers.LogitsProcessor

    class SeededSampler(processor):  # type: ignore[misc,valid-type]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            step = min(int(input_ids.shape[1]) - prompt_width, uniforms.shape[1] - 1)
            cdf = torch.softmax(scores.double() / max(temperature, 1e-6), dim=-1).cumsum(dim=-1)
            target = uniforms[:, step : step + 1] * cdf[:, -1:]  # scaled: the sum may round below 1
            token = torch.searchsorted(cdf, target).clamp(max=scores.shape[-1] - 1)
            picked = torch.full_like(scores, float("-inf"))
            return picked.scatter(1, token, 0.0)

    return SeededSampler()
