"""What a cross-fit will cost (fine-tunes, training steps, model calls), before it starts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from clearft.data.example import Example
from clearft.scoring.config import ScoreConfig
from clearft.scoring.crossfit.config import METHOD, CrossFitConfig
from clearft.scoring.crossfit.folds import label_set
from clearft.scoring.crossfit.target import normalises_over_labels


def estimate_crossfit(examples: Sequence[Example], cf: CrossFitConfig, config: ScoreConfig) -> dict[str, Any]:
    """Fine-tunes, training steps and model calls a cross-fit takes, before it starts."""
    from clearft.scoring.engine import estimate
    from clearft.training import FinetuneConfig

    ft = FinetuneConfig.from_dict(cf.finetune)
    n = len(examples)
    labels = label_set([ex.response for ex in examples], cf.max_label_values)
    train_rows = [n - n // cf.folds - (1 if f < n % cf.folds else 0) for f in range(cf.folds)]
    per_step = ft.batch_size * ft.grad_accum
    steps = [min(ft.max_steps or 10**9, math.ceil(ft.epochs * math.ceil(r / per_step))) for r in train_rows]
    est: dict[str, Any] = {
        "rows": n, "fine_tunes": cf.folds, "training_rows_per_fold": train_rows,
        "training_steps": sum(steps), "labels": len(labels) if labels else None,
        "loglikelihood_requests": (n * (len(labels) if labels and normalises_over_labels(labels, cf) else 1)
                                   if "label-prob" in cf.parts else 0),
        "generated_samples": 0, "requests": 0, "prompt_tokens": 0, "max_completion_tokens": 0,
        "embedded_rows": n if "embedding-classifier" in cf.parts and labels else 0,
    }
    est["requests"] = est["loglikelihood_requests"]
    if "label-prob" in cf.parts:  # each request carries its row's prompt (4 characters a token)
        per_row = est["loglikelihood_requests"] // max(1, n)
        est["prompt_tokens"] = per_row * sum(len(ex.prompt_text) + len(ex.response) for ex in examples) // 4
    if "bsdetector" in cf.parts:
        b = estimate(examples, "bsdetector", config, None)
        for key in ("requests", "generated_samples", "prompt_tokens", "max_completion_tokens"):
            est[key] += b[key]
    est["backend_calls"] = cf.folds * math.ceil(n / cf.folds / config.batch_size) * len(cf.parts)
    return est


def estimate_lines(est: dict[str, Any]) -> list[str]:
    return [
        f"dry run: {est['rows']} rows, method {METHOD} ({est['fine_tunes']} folds)",
        f"  fine-tunes: {est['fine_tunes']} (training rows per fold {est['training_rows_per_fold']}, "
        f"{est['training_steps']} training steps in all)",
        f"  model calls: {est['requests']} requests ({est['generated_samples']} generated samples, "
        f"{est['loglikelihood_requests']} log-likelihood requests), in about {est['backend_calls']} "
        "batched backend calls",
        f"  tokens: about {est['prompt_tokens']} prompt + at most {est['max_completion_tokens']} generated",
    ] + ([f"  embedding-classifier: {est['embedded_rows']} prompts embedded (sentence encoder, no LLM calls)"]
         if est.get("embedded_rows") else [])
