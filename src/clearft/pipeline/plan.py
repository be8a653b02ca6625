"""`clearft run --dry-run`: the stages a run will go through and what each will cost,
before a single model call. The stages are the run's own declarations (pipeline/stages.py),
each priced by its cost estimate (pipeline/costs.py); estimates are rough on purpose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.data.options import DataOptions
from clearft.pipeline.config import RunConfig
from clearft.pipeline.stage import Sizes
from clearft.pipeline.stages import Pipeline
from clearft.pipeline.toolkit import Toolkit

# Measured on the 2-core sandbox (SPEC 5): ~11-14 s per LoRA step of 8 x 256 tokens.
CPU_SECONDS_PER_STEP = 14.0


@dataclass
class PlannedStage:
    name: str
    what: str
    model_calls: int = 0
    est_tokens: int = 0
    train_steps: int = 0


def count_rows(path: Path, data_options: DataOptions) -> int:
    return sum(1 for _ in data_options.open(str(path)))


def run_sizes(config: RunConfig, rows: int, test_rows: int,
              score_estimate: dict[str, Any] | None = None) -> Sizes:
    """The rows each stage will see, guessed from the filter's settings."""
    fraction = config.fraction if config.fraction is not None else 0.5
    dropped = rows if config.threshold is not None else int(round(rows * fraction))
    kept = rows - dropped if config.threshold is None else rows // 2
    review_rows = 0
    if config.review and Path(config.review).is_file():
        review_rows = sum(1 for line in Path(config.review).read_text(encoding="utf-8").splitlines()
                          if line.strip())
    return Sizes(rows=rows, test_rows=test_rows, kept=kept, dropped=dropped,
                 judged=rows if config.correct_all else dropped, finetune=config.finetune,
                 score_estimate=score_estimate, review_rows=review_rows)


def plan_run(input_path: Path, test_path: Path | None, config: RunConfig,
             rows: int | None = None, test_rows: int | None = None,
             score_estimate: dict[str, Any] | None = None, run_dir: Path | None = None) -> list[PlannedStage]:
    """The stages and their cost. `score_estimate` is the scorer's own dry-run summary
    (`score_file(..., dry_run=True).to_dict()`); without it the score stage is a rough guess."""
    rows = count_rows(input_path, config.data_options) if rows is None else rows
    if test_path is not None and test_rows is None:
        test_rows = count_rows(test_path, config.data_options)
    test_rows = min(test_rows or 0, config.eval_limit or (test_rows or 0))
    sizes = run_sizes(config, rows, test_rows, score_estimate)
    pipeline = Pipeline(input_path, test_path, run_dir or Path("RUN_DIR"), config, Toolkit())
    plan = []
    for stage in pipeline.stages():
        cost = stage.cost(sizes)
        plan.append(PlannedStage(stage.name, cost.what, cost.model_calls, cost.est_tokens, cost.train_steps))
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
