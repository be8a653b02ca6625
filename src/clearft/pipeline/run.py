"""`clearft run`: the whole CLEAR loop, resumable stage by stage (SPEC 2).

`Runner` executes the stages pipeline/stages.py declares, in order. Every stage writes its
outputs atomically and then records itself in RUN_DIR/state.json; a rerun skips recorded
stages whose outputs exist. Inside a stage, rows already answered come back from the call
cache (RUN_DIR/calls.sqlite by default), so a run killed at any moment and run again with
the same settings ends with the same outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.errors import ClearftError
from clearft.pipeline.config import RunConfig, without_batch_size
from clearft.pipeline.stage import Stage
from clearft.pipeline.stages import UNTUNED, Pipeline, RunPaths, file_sha256
from clearft.pipeline.state import RunState, write_json_atomic
from clearft.pipeline.toolkit import Toolkit, check_finetune_base, default_finetune

__all__ = ["RunPaths", "Runner", "run_pipeline", "summary_table"]

Log = Callable[[str], None]


class Runner(Pipeline):
    """Executes the declared stages in order, skipping those finished before."""

    def __init__(self, input_path: Path, test_path: Path | None, run_dir: Path, config: RunConfig,
                 toolkit: Toolkit, log: Log) -> None:
        super().__init__(input_path, test_path, run_dir, config, toolkit)
        self.log = log
        settings = {**config.fingerprint(), "input": str(input_path),
                    "test": str(test_path) if test_path else None}
        run_dir.mkdir(parents=True, exist_ok=True)
        self.state = RunState(run_dir, settings, normalise=without_batch_size)

    def judge(self) -> Backend:
        return self.judge_model.backend()

    def close(self) -> None:
        try:
            self.judge_model.close()
        finally:
            self.tools.close()  # the command's one engine (a Ray cluster it started)

    def execute(self, stage: Stage) -> dict[str, Any]:
        state = self.state
        assert state is not None
        if state.is_done(stage.name, stage.outputs):
            self.log(f"[{stage.name}] done already, skipped")
            return state.info(stage.name)
        self.log(f"[{stage.name}] running")
        started = time.monotonic()
        info = _stable(stage.work() or {})
        state.mark_done(stage.name, info)
        # Wall time goes to its own file: state.json and summary.json stay identical across runs.
        seconds = round(time.monotonic() - started, 1)
        timings_path = self.paths.dir / "timings.json"
        timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
        timings[stage.name] = seconds
        write_json_atomic(timings_path, timings)
        self.log(f"[{stage.name}] finished in {seconds:.0f} s")
        return info

    def check(self) -> None:
        """What would fail half-way, said before the first stage runs."""
        cfg = self.config
        # clearft's own trainer starts from the run's model (a toolkit's own trainer, or an
        # external command, chooses its base itself); cross-fit's fold models always do.
        if cfg.cross_fit or (not cfg.finetune_command and self.tools.finetune is default_finetune):
            check_finetune_base(cfg)
        if cfg.review:
            decisions = Path(cfg.review)
            if not decisions.is_file():
                raise ClearftError(f"--review {decisions}: no such file")
            assert self.state is not None
            done = self.state.stages.get("review")
            if done and done.get("decisions_sha256") != file_sha256(decisions):
                raise ClearftError(
                    f"{self.paths.dir} was already continued with another decisions file "
                    f"({done.get('decisions_file')}); give that file again, or a new run directory")

    def run(self) -> dict[str, Any]:
        try:
            self.check()
            for stage in self.stages():
                self.execute(stage)
        finally:
            self.close()
        summary = self.summary()
        write_json_atomic(self.paths.summary, summary)
        return summary

    def summary(self) -> dict[str, Any]:
        assert self.state is not None
        stages = self.state.stages
        models = {label: stages[stage]["model"] for label, stage in self.models()}
        accuracy = {}
        if self.test is not None:
            labels = ([UNTUNED] if self.config.eval_untuned else []) + list(models)
            accuracy = {label: {k: stages[f"eval_{label}"].get(k) for k in ("accuracy", "n")}
                        for label in labels}
        corrections = {
            name: {k: info.get(k) for k in ("judged", "replaced", "left_out", "reasons")}
            for name, info in stages.items() if name.startswith("correct")
        }
        model_id = stages.get("score", {}).get("model_id")
        if model_id is None:
            model_id = _find_model_id(stages.get("score", {}))
        out = {
            "stages": {name: stages[name] for name in self.state.data["order"]},
            "accuracy": accuracy,
            "corrections": corrections,
            "models": models,
            "settings": {**self.state.settings, "seed": self.config.seed, "model_id": model_id},
        }
        if "review" in stages:
            out["review"] = {k: stages["review"].get(k) for k in ("decisions_file", "decisions", "rows",
                                                                   "dropped", "added")}
        return out


VOLATILE_KEYS = ("seconds", "elapsed", "started", "finished")


def _stable(info: Any) -> Any:
    """Stage info without wall-clock fields, so that a resumed run's state.json and
    summary.json equal an uninterrupted run's (timings go to timings.json)."""
    if isinstance(info, dict):
        return {k: _stable(v) for k, v in info.items() if k not in VOLATILE_KEYS}
    if isinstance(info, list):
        return [_stable(v) for v in info]
    return info


def _find_model_id(info: Any) -> str | None:
    """The base model's identity, wherever the scorer's summary recorded it."""
    if isinstance(info, dict):
        if isinstance(info.get("model_id"), str):
            return str(info["model_id"])
        for value in info.values():
            found = _find_model_id(value)
            if found:
                return found
    return None


def run_pipeline(
    input_path: str | Path,
    test_path: str | Path | None,
    run_dir: str | Path,
    config: RunConfig | None = None,
    *,
    toolkit: Toolkit | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole loop in `run_dir`; returns what summary.json holds."""
    runner = Runner(Path(input_path), Path(test_path) if test_path else None, Path(run_dir),
                    config or RunConfig(), toolkit or Toolkit(), log or (lambda _m: None))
    return runner.run()


def summary_table(summary: dict[str, Any]) -> str:
    """The before/after accuracy table as markdown."""
    lines = ["| model | accuracy | n |", "|---|---|---|"]
    for label, res in summary.get("accuracy", {}).items():
        acc = res.get("accuracy")
        lines.append(f"| {label} | {'n/a' if acc is None else f'{acc:.3f}'} | {res.get('n')} |")
    for name, c in summary.get("corrections", {}).items():
        lines.append(f"\n{name}: {c.get('replaced')} replaced of {c.get('judged')} judged; "
                     f"reasons {json.dumps(c.get('reasons') or {}, sort_keys=True)}")
    return "\n".join(lines)
