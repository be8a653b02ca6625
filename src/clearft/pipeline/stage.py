"""One stage of `clearft run`, declared once: its name, the files it reads and writes, the
work that writes them and what it will cost. The run executes the declarations
(pipeline/run.py); `--dry-run` prices the same declarations (pipeline/plan.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Cost:
    """What a stage will spend, before a single model call (rough on purpose)."""

    what: str
    model_calls: int = 0
    est_tokens: int = 0
    train_steps: int = 0


@dataclass
class Sizes:
    """The numbers a cost estimate starts from: rows in, rows kept and dropped by the filter
    (guessed from its settings), test rows, and the scorer's own dry-run summary if any."""

    rows: int
    test_rows: int
    kept: int
    dropped: int
    judged: int  # rows Auto-Correct writes a candidate for
    finetune: dict[str, Any] = field(default_factory=dict)
    score_estimate: dict[str, Any] | None = None
    review_rows: int = 0  # decisions in the reviewer's file (--review)

    def steps(self, n: int) -> int:
        """LoRA steps to fine-tune on `n` rows with the run's settings."""
        ft = self.finetune
        if ft.get("max_steps"):
            return int(ft["max_steps"])
        per_step = ft.get("batch_size", 8) * ft.get("grad_accum", 2)
        return math.ceil(n * float(ft.get("epochs", 1.0)) / per_step)


Work = Callable[[], dict[str, Any]]
Estimate = Callable[[Sizes], Cost]


@dataclass
class Stage:
    name: str  # the key in state.json and timings.json
    inputs: list[Path]
    outputs: list[Path]  # the stage is done when state.json says so and these exist
    work: Work  # writes the outputs; returns the info state.json records
    cost: Estimate
