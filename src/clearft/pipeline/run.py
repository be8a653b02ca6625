"""`clearft run`: the whole CLEAR loop, resumable stage by stage (SPEC 2).

score -> filter -> fine-tune on the kept rows -> [candidates -> correct -> fine-tune on
kept + corrected] x iterations -> evaluate every model -> summary.json.

Every stage writes its outputs atomically and then records itself in RUN_DIR/state.json;
a rerun skips recorded stages whose outputs exist. Inside a stage, rows already answered
come back from the call cache (RUN_DIR/calls.sqlite by default), so a run killed at any
moment and run again with the same settings ends with the same outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.correction.correct import CORRECTION_COL, ORIGINAL_COL, read_examples
from clearft.pipeline.config import RunConfig
from clearft.pipeline.state import RunState, write_json_atomic
from clearft.pipeline.toolkit import StageModel, Toolkit

Log = Callable[[str], None]

UNTUNED = "untuned"
NOISY_FULL = "full"
FILTERED = "filtered"


def corrected_label(iteration: int) -> str:
    return "corrected" if iteration == 1 else f"corrected_{iteration}"


def data_ext(path: Path) -> str:
    """Outputs keep the input's file type (a datasets folder becomes JSONL)."""
    return path.suffix if path.suffix and not path.is_dir() else ".jsonl"


class RunPaths:
    def __init__(self, run_dir: Path, ext: str) -> None:
        self.dir = run_dir
        self.ext = ext
        self.scored = run_dir / f"scored{ext}"
        self.kept = run_dir / f"kept{ext}"
        self.dropped = run_dir / f"dropped{ext}"
        self.model_full = run_dir / "model_full"
        self.model_filtered = run_dir / "model_filtered"
        self.summary = run_dir / "summary.json"

    def iteration(self, i: int) -> dict[str, Path]:
        sfx = "" if i == 1 else f"_{i}"
        return {
            "to_correct": self.dir / f"to_correct{sfx}{self.ext}",
            "candidates": self.dir / f"candidates{sfx}{self.ext}",
            "corrected": self.dir / f"corrected{sfx}{self.ext}",
            "uncorrected": self.dir / f"uncorrected{sfx}{self.ext}",
            "train": self.dir / f"train_corrected{sfx}{self.ext}",
            "model": self.dir / f"model_corrected{sfx}",
        }

    def eval(self, label: str) -> Path:
        return self.dir / f"eval_{label}.json"


def _records(path: Path, data_options: dict[str, Any]) -> list[dict[str, Any]]:
    from clearft.correction.correct import read_examples

    _, examples = read_examples(path, data_options)
    return [dict(ex.record) for ex in examples]


def _write(path: Path, records: list[dict[str, Any]]) -> int:
    from clearft.data import write_records

    written = write_records(str(path), records)
    return int(written) if written is not None else len(records)


def _with_columns(records: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Give every record the same columns (CSV and Parquet need one schema)."""
    return [{c: r.get(c) for c in columns} for r in records]


def _columns(records: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> list[str]:
    """Every column, in order of first appearance (the input's own order first)."""
    return list(dict.fromkeys([*(c for r in records for c in r), *extra]))


class Runner:
    def __init__(self, input_path: Path, test_path: Path | None, run_dir: Path, config: RunConfig,
                 toolkit: Toolkit, log: Log) -> None:
        self.input = input_path
        self.test = test_path
        settings = {**config.fingerprint(), "input": str(input_path),
                    "test": str(test_path) if test_path else None}
        # The call cache lives in the run directory unless told otherwise.
        self.config = replace(config, cache=config.cache or str(run_dir / "calls.sqlite"))
        self.tools = toolkit
        self.log = log
        self.paths = RunPaths(run_dir, data_ext(input_path))
        run_dir.mkdir(parents=True, exist_ok=True)
        self.state = RunState(run_dir, settings)
        # The base model (scorer and judge), opened once, only if a stage needs it here.
        self.judge_model = StageModel(self.config.backend, self.config.backend_options, self.cache,
                                      toolkit.open_backend)

    # -- helpers ------------------------------------------------------------------------
    @property
    def cache(self) -> str:
        return str(self.config.cache)

    def judge(self) -> Backend:
        return self.judge_model.backend()

    def close(self) -> None:
        self.judge_model.close()

    def stage(self, name: str, outputs: list[Path], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self.state.is_done(name, outputs):
            self.log(f"[{name}] done already, skipped")
            return self.state.info(name)
        self.log(f"[{name}] running")
        started = time.monotonic()
        info = _stable(work() or {})
        self.state.mark_done(name, info)
        # Wall time goes to its own file: state.json and summary.json stay identical across runs.
        seconds = round(time.monotonic() - started, 1)
        timings_path = self.paths.dir / "timings.json"
        timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
        timings[name] = seconds
        write_json_atomic(timings_path, timings)
        self.log(f"[{name}] finished in {seconds:.0f} s")
        return info

    # -- stages -------------------------------------------------------------------------
    def finetune(self, name: str, data: Path, out_dir: Path) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            model = self.tools.finetune(data, out_dir, self.config)
            return {"data": str(data), "model": str(model)}

        return self.stage(name, [out_dir], work)

    def correct_iteration(self, i: int, model: Path) -> Path:
        p = self.paths.iteration(i)
        cfg = self.config
        opts = cfg.data_options

        def build_to_correct() -> dict[str, Any]:
            # Which rows get a candidate: the dropped rows, or (correct_all) every row,
            # with `clearft_keep` telling the corrector which ones were filtered out.
            dropped = _records(self.paths.dropped, opts)
            rows = [{**r, "clearft_keep": False} for r in dropped]
            if cfg.correct_all:
                rows = [{**r, "clearft_keep": True} for r in _records(self.paths.kept, opts)] + rows
            cols = _columns(rows)
            return {"rows": _write(p["to_correct"], _with_columns(rows, cols))}

        self.stage(f"select{'' if i == 1 else f'_{i}'}", [p["to_correct"]], build_to_correct)

        def candidates() -> dict[str, Any]:
            routes = self._fold_routes(p["to_correct"]) if cfg.cross_fit else {}
            writer = StageModel(cfg.candidate_backend, {"model": str(model)}, self.cache,
                                self.tools.open_backend, routes)
            try:
                return {**self.tools.candidates(p["to_correct"], p["candidates"], writer, cfg),
                        "model": str(model)}
            finally:
                writer.close()

        self.stage(f"candidates{'' if i == 1 else f'_{i}'}", [p["candidates"]], candidates)

        def correct() -> dict[str, Any]:
            # Every example of the dataset: a label candidate may be any of its labels, and the
            # evidence judge's classifier learns from all of them.
            context = [ex for path in (self.paths.kept, self.paths.dropped)
                       for ex in read_examples(path, opts)[1]]
            return self.tools.correct(p["candidates"], p["corrected"], p["uncorrected"], self.judge_model,
                                      context, cfg)

        self.stage(f"correct{'' if i == 1 else f'_{i}'}", [p["corrected"], p["uncorrected"]], correct)

        def train_set() -> dict[str, Any]:
            corrected = _records(p["corrected"], opts)
            rows = corrected
            if not cfg.correct_all:
                kept = _records(self.paths.kept, opts)
                rows = [{**r, "clearft_keep": True} for r in kept] + corrected
            cols = _columns(rows, (ORIGINAL_COL, CORRECTION_COL))
            return {"rows": _write(p["train"], _with_columns(rows, cols)),
                    "corrected_rows": len(corrected)}

        self.stage(f"train_corrected{'' if i == 1 else f'_{i}'}", [p["train"]], train_set)
        self.finetune(f"finetune_{corrected_label(i)}", p["train"], p["model"])
        return p["model"]

    def _fold_routes(self, to_correct: Path) -> dict[str, Path]:
        """Candidates for kept rows (which M1 trained on) come from their cross-fit fold
        model, which never saw their targets; dropped rows keep M1's (M1 never saw them
        either, and learnt from the cleaner, filtered data)."""
        from clearft.pipeline.toolkit import crossfit_work_dir
        from clearft.scoring.crossfit import fold_routes

        _, examples = read_examples(to_correct, self.config.data_options)
        seen = [ex for ex in examples if str(ex.record.get("clearft_keep")).lower() == "true"]
        return fold_routes(seen, crossfit_work_dir(self.paths.scored))

    def evaluate(self, label: str, model: str) -> dict[str, Any]:
        assert self.test is not None
        out = self.paths.eval(label)
        test = self.test

        def work() -> dict[str, Any]:
            result = self.tools.evaluate(model, test, self.config)
            write_json_atomic(out, {"label": label, **result})
            return {k: result.get(k) for k in ("metric", "accuracy", "n", "model")}

        return self.stage(f"eval_{label}", [out], work)

    def run(self) -> dict[str, Any]:
        cfg = self.config
        paths = self.paths
        try:
            self.stage("score", [paths.scored],
                       lambda: self.tools.score(self.input, paths.scored, self.judge(), cfg))
            self.stage("filter", [paths.kept, paths.dropped],
                       lambda: self.tools.filter(paths.scored, paths.kept, paths.dropped, cfg))
            models: dict[str, str] = {}
            if cfg.baseline_full:
                models[NOISY_FULL] = self.finetune("finetune_full", self.input, paths.model_full)["model"]
            models[FILTERED] = self.finetune("finetune_filtered", paths.kept, paths.model_filtered)["model"]
            model = Path(models[FILTERED])
            for i in range(1, cfg.iterations + 1):
                model = self.correct_iteration(i, model)
                models[corrected_label(i)] = str(model)
            accuracy: dict[str, dict[str, Any]] = {}
            if self.test is not None:
                labels = ([UNTUNED] if cfg.eval_untuned else []) + list(models)
                for label in labels:
                    ref = "default" if label == UNTUNED else models[label]
                    if label == UNTUNED and cfg.base_model:
                        ref = cfg.base_model
                    res = self.evaluate(label, ref)
                    accuracy[label] = {"accuracy": res.get("accuracy"), "n": res.get("n")}
        finally:
            self.close()
        summary = self.summary(accuracy, models)
        write_json_atomic(paths.summary, summary)
        return summary

    def summary(self, accuracy: dict[str, dict[str, Any]], models: dict[str, str]) -> dict[str, Any]:
        stages = self.state.stages
        corrections = {
            name: {k: info.get(k) for k in ("judged", "replaced", "left_out", "reasons")}
            for name, info in stages.items() if name.startswith("correct")
        }
        model_id = stages.get("score", {}).get("model_id")
        if model_id is None:
            model_id = _find_model_id(stages.get("score", {}))
        return {
            "stages": {name: stages[name] for name in self.state.data["order"]},
            "accuracy": accuracy,
            "corrections": corrections,
            "models": models,
            "settings": {**self.state.settings, "seed": self.config.seed, "model_id": model_id},
        }


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
