"""`clearft run --dry-run`: the stages a run will go through and what each will cost,
before a single model call. Estimates are rough on purpose (rows x calls, tokens, steps)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.pipeline.config import RunConfig

# Measured on the 2-core sandbox (SPEC 5): ~11-14 s per LoRA step of 8 x 256 tokens.
CPU_SECONDS_PER_STEP = 14.0


@dataclass
class PlannedStage:
    name: str
    what: str
    model_calls: int = 0
    est_tokens: int = 0
    train_steps: int = 0


def count_rows(path: Path, data_options: dict[str, Any]) -> int:
    from clearft.data import open_dataset

    return sum(1 for _ in open_dataset(str(path), **data_options))


def judge_calls_per_row(config: RunConfig) -> tuple[int, int]:
    """(generation requests, generated tokens) the judge spends on one row, both orders."""
    c = config.correct
    per_order_calls = 1 + int(c.explain) + int(c.reflection) + (1 if c.samples else 0)
    sample_tokens = c.samples * (3 if c.sample_style == "direct" else c.sample_max_tokens)
    per_order_tokens = 1 + c.explain_max_tokens * int(c.explain) + int(c.reflection) + sample_tokens
    return 2 * per_order_calls, 2 * per_order_tokens


def correct_cost_per_row(config: RunConfig, label_targets: bool) -> tuple[str, int, int]:
    """(which judge, model calls, generated tokens) Auto-Correct spends on one row: the
    judge resolved as correct_file resolves it ("auto": evidence for label targets, which
    makes no model call, else the estimator: BSDetector on target and candidate)."""
    judge = config.correct.judge
    if judge == "auto":
        judge = "evidence" if label_targets else "estimator"
    if judge == "evidence":
        return judge, 0, 0
    if judge == "estimator":
        from clearft.data.example import Example
        from clearft.scoring import make_config
        from clearft.scoring.engine import estimate

        one = Example("row", [{"role": "user", "content": ""}], "")
        est = estimate([one, one], "bsdetector", make_config(config.correct.estimator_preset), None)
        return judge, est["requests"], est["max_completion_tokens"]
    calls, tokens = judge_calls_per_row(config)
    return judge, calls, tokens


def plan_run(input_path: Path, test_path: Path | None, config: RunConfig,
             rows: int | None = None, test_rows: int | None = None,
             score_estimate: dict[str, Any] | None = None) -> list[PlannedStage]:
    """The stages and their cost. `score_estimate` is the scorer's own dry-run summary
    (`score_file(..., dry_run=True).to_dict()`); without it the score stage is a rough guess."""
    rows = count_rows(input_path, config.data_options) if rows is None else rows
    if test_path is not None and test_rows is None:
        test_rows = count_rows(test_path, config.data_options)
    test_rows = min(test_rows or 0, config.eval_limit or (test_rows or 0))
    ft = config.finetune
    fraction = config.fraction if config.fraction is not None else 0.5
    dropped = rows if config.threshold is not None else int(round(rows * fraction))
    kept = rows - dropped if config.threshold is None else rows // 2
    per_step = ft.get("batch_size", 8) * ft.get("grad_accum", 2)

    def steps(n: int) -> int:
        if ft.get("max_steps"):
            return int(ft["max_steps"])
        return math.ceil(n * float(ft.get("epochs", 1.0)) / per_step)

    if score_estimate is not None:
        est = score_estimate.get("estimate") or {}
        method = score_estimate.get("method", config.method or "auto")
        score = PlannedStage("score", f"score {rows} rows, method {method}", int(est.get("requests", 0)),
                             int(est.get("max_completion_tokens", 0)))
    else:
        score = PlannedStage("score", f"score {rows} rows with {config.backend} (method "
                             f"{config.method or 'auto'}; rough guess: k=5 samples + 2 reflections)",
                             rows * 7, rows * 7 * 40)
    if config.cross_fit:
        k = config.cross_fit
        fold_rows = rows - rows // k  # the largest training share
        est = (score_estimate or {}).get("estimate") or {}
        score = PlannedStage("score", f"cross-fit: {k} fine-tunes on ~{fold_rows} rows each, then score "
                             f"{rows} rows by their fold model ({', '.join(config.cross_fit_parts)})",
                             int(est.get("requests", rows)), int(est.get("max_completion_tokens", 0)),
                             train_steps=int(est.get("training_steps", k * steps(fold_rows))))
    plan = [
        score,
        PlannedStage("filter", f"keep ~{kept}, drop ~{dropped} rows"),
    ]
    if config.baseline_full:
        plan.append(PlannedStage("finetune_full", f"fine-tune on all {rows} rows", train_steps=steps(rows)))
    plan.append(PlannedStage("finetune_filtered", f"fine-tune on ~{kept} kept rows", train_steps=steps(kept)))
    judged = rows if config.correct_all else dropped
    from clearft.scoring.config import DATASET_METHODS

    method = (score_estimate or {}).get("method", config.method or "auto")
    judge, calls, tokens = correct_cost_per_row(config, method in DATASET_METHODS)
    for i in range(1, config.iterations + 1):
        sfx = "" if i == 1 else f"_{i}"
        plan.append(PlannedStage(f"candidates{sfx}", f"{judged} greedy candidates from the fine-tuned "
                                 f"model ({config.candidate_backend})", judged, judged * 32))
        how = {"evidence": "out-of-sample views, no model call", "estimator": "BSDetector on target "
               "and candidate", "llm": "the base model compares both orders"}[judge]
        plan.append(PlannedStage(f"correct{sfx}", f"{judge} judge on {judged} rows ({how}; "
                                 f"eta {config.correct.eta})", judged * calls, judged * tokens))
        plan.append(PlannedStage(f"finetune_corrected{sfx}", "fine-tune on kept + corrected rows",
                                 train_steps=steps(kept + judged)))
    if test_path is not None:
        n_models = 1 + int(config.eval_untuned) + int(config.baseline_full) + config.iterations
        plan.append(PlannedStage("eval", f"{n_models} models x {test_rows} test rows",
                                 n_models * test_rows, n_models * test_rows * 8))
    return plan


def format_plan(plan: list[PlannedStage]) -> str:
    lines = ["| stage | what | model calls | ~generated tokens | training steps |",
             "|---|---|---|---|---|"]
    for s in plan:
        lines.append(f"| {s.name} | {s.what} | {s.model_calls} | {s.est_tokens} | {s.train_steps} |")
    total_steps = sum(s.train_steps for s in plan)
    total_calls = sum(s.model_calls for s in plan)
    total_tokens = sum(s.est_tokens for s in plan)
    lines.append(
        f"\nIn all: ~{total_calls} model calls, ~{total_tokens} generated tokens, {total_steps} "
        f"training steps (~{total_steps * CPU_SECONDS_PER_STEP / 60:.0f} min of training on a "
        "2-core CPU at the default batch; far less on a GPU)."
    )
    return "\n".join(lines)
