"""A progress bar that shows the running loss, and a JSONL log of every logged step."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def make_progress_callback(log_path: Path, show: bool = True) -> Any:
    """A transformers TrainerCallback (built lazily: transformers is imported here)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class LossProgress(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.bar: Any = None
            self.started = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.monotonic()
            if show:
                self.bar = tqdm(total=state.max_steps, initial=state.global_step,
                                desc="fine-tuning", unit="step")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = dict(logs or {})
            # "seconds": wall time since training began (speed per step, without model loading)
            record = {"step": state.global_step, "seconds": round(time.monotonic() - self.started, 3),
                      **logs}
            with log_path.open("a") as f:
                f.write(json.dumps(record, default=float) + "\n")
            if self.bar is not None and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return LossProgress()
