"""The stages of `clearft run`, declared once (`Pipeline.stages`: name, inputs, outputs,
work, cost). pipeline/run.py executes the declarations; `--dry-run` (pipeline/plan.py)
prices the same ones.

score -> filter -> fine-tune on the kept rows -> [select -> candidates -> correct -> fine-tune
on kept + corrected] x iterations -> [review -> fine-tune on the reviewed set] -> evaluate
every model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from clearft.correction.records import CORRECTION_COL, ORIGINAL_COL, read_examples
from clearft.data.options import DataOptions
from clearft.pipeline import costs
from clearft.pipeline.config import RunConfig
from clearft.pipeline.stage import Estimate, Stage
from clearft.pipeline.state import RunState, write_json_atomic
from clearft.pipeline.toolkit import StageModel, Toolkit

UNTUNED = "untuned"
NOISY_FULL = "full"
FILTERED = "filtered"
REVIEWED = "reviewed"
FINETUNE = "finetune_"  # a fine-tune stage is named finetune_<the model's label>


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
        # --review: the latest training set with a reviewer's decisions applied
        self.reviewed = run_dir / f"train_reviewed{ext}"
        self.review_dropped = run_dir / f"review_dropped{ext}"
        self.model_reviewed = run_dir / "model_reviewed"
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


def _records(path: Path, data_options: DataOptions) -> list[dict[str, Any]]:
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


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


class Pipeline:
    """The stages of one run, declared once. Declaring has no side effect: `--dry-run`
    prices the declarations without creating RUN_DIR; `Runner` executes them."""

    def __init__(self, input_path: Path, test_path: Path | None, run_dir: Path, config: RunConfig,
                 toolkit: Toolkit) -> None:
        self.input = input_path
        self.test = test_path
        # The call cache lives in the run directory unless told otherwise.
        self.config = replace(config, cache=config.cache or str(run_dir / "calls.sqlite"))
        self.tools = toolkit
        self.paths = RunPaths(run_dir, data_ext(input_path))
        self.state: RunState | None = None  # the run's record, while it runs
        # The base model (scorer and judge), opened once, only if a stage needs it here.
        self.judge_model = StageModel(self.config.backend, self.config.backend_options, self.cache,
                                      toolkit.open_backend)

    @property
    def cache(self) -> str:
        return str(self.config.cache)

    def info(self, stage: str) -> dict[str, Any]:
        assert self.state is not None, "a stage's work runs only inside Runner.run"
        return self.state.info(stage)

    def model_of(self, finetune_stage: str) -> Path:
        """The model folder a finished fine-tune stage wrote."""
        return Path(self.info(finetune_stage)["model"])

    # -- the declaration ------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        """Every stage, in the order the run goes through them."""
        out = self.training_stages()
        if self.test is not None:
            labels = ([(UNTUNED, "")] if self.config.eval_untuned else []) + self.models(out)
            out += [self.evaluate(label, stage) for label, stage in labels]
        return out

    def training_stages(self) -> list[Stage]:
        cfg, p = self.config, self.paths
        out = [
            Stage("score", [self.input], [p.scored], self.score, costs.score(cfg)),
            Stage("filter", [p.scored], [p.kept, p.dropped], self.filter, costs.filter_(self.config)),
        ]
        if cfg.baseline_full:
            out.append(self.finetune(f"{FINETUNE}{NOISY_FULL}", self.input, p.model_full,
                                     costs.finetune("all the noisy rows", "rows")))
        out.append(self.finetune(f"{FINETUNE}{FILTERED}", p.kept, p.model_filtered,
                                 costs.finetune("the kept rows", "kept")))
        for i in range(1, cfg.iterations + 1):
            out += self.correct_iteration(i)
        if cfg.review:
            out += self.review_stages(Path(cfg.review))
        return out

    def models(self, stages: list[Stage] | None = None) -> list[tuple[str, str]]:
        """(label, stage) of every model the run fine-tunes, in order: a fine-tune stage is
        named finetune_<label>."""
        return [(s.name.removeprefix(FINETUNE), s.name) for s in stages or self.training_stages()
                if s.name.startswith(FINETUNE)]

    # -- the stages -----------------------------------------------------------------------
    def score(self) -> dict[str, Any]:
        return self.tools.score(self.input, self.paths.scored, self.judge_model.backend(), self.config)

    def filter(self) -> dict[str, Any]:
        p = self.paths
        return self.tools.filter(p.scored, p.kept, p.dropped, self.config)

    def finetune(self, name: str, data: Path, out_dir: Path, cost: Estimate) -> Stage:
        def work() -> dict[str, Any]:
            model = self.tools.finetune(data, out_dir, self.config)
            return {"data": str(data), "model": str(model)}

        return Stage(name, [data], [out_dir], work, cost)

    def correct_iteration(self, i: int) -> list[Stage]:
        p = self.paths.iteration(i)
        cfg = self.config
        opts = cfg.data_options
        sfx = "" if i == 1 else f"_{i}"
        # the model writing candidates: the one the previous round fine-tuned
        previous = FINETUNE + (FILTERED if i == 1 else corrected_label(i - 1))

        def select() -> dict[str, Any]:
            # Which rows get a candidate: the dropped rows, or (correct_all) every row,
            # with `clearft_keep` telling the corrector which ones were filtered out.
            dropped = _records(self.paths.dropped, opts)
            rows = [{**r, "clearft_keep": False} for r in dropped]
            if cfg.correct_all:
                rows = [{**r, "clearft_keep": True} for r in _records(self.paths.kept, opts)] + rows
            cols = _columns(rows)
            return {"rows": _write(p["to_correct"], _with_columns(rows, cols))}

        def candidates() -> dict[str, Any]:
            model = self.model_of(previous)
            routes = self._fold_routes(p["to_correct"]) if cfg.cross_fit else {}
            writer = StageModel(cfg.candidate_backend, {"model": str(model)}, self.cache,
                                self.tools.open_backend, routes)
            try:
                return {**self.tools.candidates(p["to_correct"], p["candidates"], writer, cfg),
                        "model": str(model)}
            finally:
                writer.close()

        def correct() -> dict[str, Any]:
            # Every example of the dataset: a label candidate may be any of its labels, and the
            # evidence judge's classifier learns from all of them.
            context = [ex for path in (self.paths.kept, self.paths.dropped)
                       for ex in read_examples(path, opts)[1]]
            return self.tools.correct(p["candidates"], p["corrected"], p["uncorrected"], self.judge_model,
                                      context, cfg)

        def train_set() -> dict[str, Any]:
            corrected = _records(p["corrected"], opts)
            rows = corrected
            if not cfg.correct_all:
                kept = _records(self.paths.kept, opts)
                rows = [{**r, "clearft_keep": True} for r in kept] + corrected
            cols = _columns(rows, (ORIGINAL_COL, CORRECTION_COL))
            return {"rows": _write(p["train"], _with_columns(rows, cols)),
                    "corrected_rows": len(corrected)}

        kept_dropped = [self.paths.kept, self.paths.dropped]
        return [
            Stage(f"select{sfx}", kept_dropped, [p["to_correct"]], select, costs.select(cfg)),
            Stage(f"candidates{sfx}", [p["to_correct"]], [p["candidates"]], candidates, costs.candidates(cfg)),
            Stage(f"correct{sfx}", [p["candidates"], *kept_dropped], [p["corrected"], p["uncorrected"]],
                  correct, costs.correct(cfg)),
            Stage(f"train_corrected{sfx}", [self.paths.kept, p["corrected"]], [p["train"]], train_set,
                  costs.train_set("the next training set: kept + corrected rows")),
            self.finetune(FINETUNE + corrected_label(i), p["train"], p["model"],
                          costs.finetune("kept + corrected rows", "kept+judged")),
        ]

    def review_stages(self, decisions: Path) -> list[Stage]:
        """`--review DECISIONS`: a reviewer's decisions (`clearft review` -> `clearft apply`'s
        format) applied to the run's latest training set, then fine-tune again."""
        p = self.paths
        latest = self.paths.iteration(self.config.iterations)["train"]

        def work() -> dict[str, Any]:
            from clearft.review.apply import apply_decisions

            summary = apply_decisions(decisions, p.dir, p.reviewed, dropped_path=p.review_dropped,
                                      data_options=self.config.data_options)
            return {"decisions_file": str(decisions), "decisions_sha256": file_sha256(decisions),
                    "decisions": summary.decisions, "rows": summary.rows, "dropped": summary.dropped,
                    "added": summary.added}

        return [
            Stage("review", [decisions, latest], [p.reviewed, p.review_dropped],
                  work, costs.review),
            self.finetune(FINETUNE + REVIEWED, p.reviewed, p.model_reviewed,
                          costs.finetune("the reviewed rows", "reviewed")),
        ]

    def _fold_routes(self, to_correct: Path) -> dict[str, Path]:
        """Candidates for kept rows (which M1 trained on) come from their cross-fit fold
        model, which never saw their targets; dropped rows keep M1's (M1 never saw them
        either, and learnt from the cleaner, filtered data)."""
        from clearft.pipeline.toolkit import crossfit_work_dir
        from clearft.scoring.crossfit import fold_routes

        _, examples = read_examples(to_correct, self.config.data_options)
        seen = [ex for ex in examples if str(ex.record.get("clearft_keep")).lower() == "true"]
        return fold_routes(seen, crossfit_work_dir(self.paths.scored))

    def evaluate(self, label: str, finetune_stage: str) -> Stage:
        """`finetune_stage` "": the untuned model (the base the fine-tunes start from)."""
        assert self.test is not None
        out = self.paths.eval(label)
        test = self.test

        def work() -> dict[str, Any]:
            model = str(self.model_of(finetune_stage)) if finetune_stage else "default"
            result = self.tools.evaluate(model, test, self.config)
            write_json_atomic(out, {"label": label, **result})
            return {k: result.get(k) for k in ("metric", "accuracy", "n", "model")}

        return Stage(f"eval_{label}", [test], [out], work, costs.evaluate(label))
