"""The whole loop with fake stages and fake backends: outputs, state, resume, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from clearft.correction import CorrectConfig
from clearft.data import open_dataset, write_records
from clearft.errors import ClearftError
from clearft.pipeline import RunConfig, Toolkit, format_plan, plan_run, run_pipeline, summary_table

from .test_correct_file import TRUTH, fine_tuned, truth_judge

ROWS = [
    {"id": "1", "prompt": "q1", "response": "negative"},  # noisy
    {"id": "2", "prompt": "q2", "response": "negative"},
    {"id": "3", "prompt": "q3", "response": "positive"},  # noisy
    {"id": "4", "prompt": "q4", "response": "positive"},
]


class Kill(BaseException):
    """Stands for the process being killed (not an Exception, like KeyboardInterrupt)."""


class FakeStages:
    """Stage functions that count their calls; `kill_at` raises when a stage starts."""

    def __init__(self, kill_at: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.kill_at = kill_at

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if name == self.kill_at:
            raise Kill(name)

    def score(self, input_path, output, backend, config):
        self._enter("score")
        ds = open_dataset(str(input_path))
        rows = [{**ex.record, "id": ex.id,
                 "confidence": 0.9 if TRUTH[ex.prompt_text] == ex.response else 0.1} for ex in ds]
        write_records(str(output), rows)
        return {"rows": len(rows), "model_id": backend.model_id}

    def filter(self, scored, kept, dropped, config):
        self._enter("filter")
        rows = [ex.record for ex in open_dataset(str(scored))]
        write_records(str(kept), [r for r in rows if r["confidence"] >= 0.5])
        write_records(str(dropped), [{**r, "clearft_keep": False, "clearft_drop_reason": "low"}
                                     for r in rows if r["confidence"] < 0.5])
        return {"kept": sum(r["confidence"] >= 0.5 for r in rows)}

    def finetune(self, data, out_dir, config):
        self._enter(f"finetune:{Path(out_dir).name}")
        out_dir.mkdir(parents=True, exist_ok=True)
        pairs = sorted((ex.prompt_text, ex.response) for ex in open_dataset(str(data)))
        (out_dir / "trained_on.json").write_text(json.dumps(pairs))
        return out_dir

    def evaluate(self, model, test, config):
        self._enter(f"eval:{Path(model).name}")
        if model == "default":
            return {"metric": "exact", "accuracy": 0.25, "n": 4, "model": model, "rows": []}
        pairs = json.loads((Path(model) / "trained_on.json").read_text())
        right = sum(TRUTH[p] == r for p, r in pairs)
        return {"metric": "exact", "accuracy": right / 4, "n": 4, "model": model, "rows": []}

    def open_backend(self, name, cache=None, **options):
        self.calls[f"open:{name}"] += 1
        return truth_judge() if name == "fake" else fine_tuned()

    def toolkit(self) -> Toolkit:
        return Toolkit(score=self.score, filter=self.filter, finetune=self.finetune,
                       evaluate=self.evaluate, open_backend=self.open_backend)


@pytest.fixture
def data(tmp_path):
    train = tmp_path / "train.jsonl"
    test = tmp_path / "test.jsonl"
    write_records(train, ROWS)
    write_records(test, ROWS)
    return train, test


def config(**kw) -> RunConfig:
    kw.setdefault("correct", CorrectConfig(judge="llm"))  # the scripted stages judge as the llm judge
    return RunConfig(backend="fake", candidate_backend="fake-candidates", **kw)


def test_the_loop_writes_every_stage_output_and_a_summary(tmp_path, data):
    train, test = data
    run_dir = tmp_path / "run"
    stages = FakeStages()
    summary = run_pipeline(train, test, run_dir, config(baseline_full=True), toolkit=stages.toolkit())
    for name in ["scored.jsonl", "kept.jsonl", "dropped.jsonl", "candidates.jsonl", "corrected.jsonl",
                 "train_corrected.jsonl", "model_filtered", "model_corrected", "model_full",
                 "eval_untuned.json", "eval_full.json", "eval_filtered.json", "eval_corrected.json",
                 "summary.json", "state.json"]:
        assert (run_dir / name).exists(), name
    assert summary["accuracy"] == {
        "untuned": {"accuracy": 0.25, "n": 4},
        "full": {"accuracy": 0.5, "n": 4},
        "filtered": {"accuracy": 0.5, "n": 4},
        "corrected": {"accuracy": 1.0, "n": 4},
    }
    assert summary["corrections"]["correct"]["replaced"] == 2
    assert summary["settings"]["seed"] == 0 and summary["settings"]["model_id"] == "fake-model"
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["accuracy"] == summary["accuracy"]
    corrected = [ex.record for ex in open_dataset(str(run_dir / "train_corrected.jsonl"))]
    assert sorted((r["prompt"], r["response"]) for r in corrected) == sorted(TRUTH.items())
    assert "| corrected | 1.000 | 4 |" in summary_table(summary)


def _outputs(run_dir: Path) -> dict[str, str]:
    """Every output file, with the run directory's own path taken out."""
    out = {}
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and p.name not in ("calls.sqlite", "timings.json"):
            out[str(p.relative_to(run_dir))] = p.read_text().replace(str(run_dir), "RUN")
    return out


@pytest.mark.parametrize("kill_at", ["score", "filter", "finetune:model_filtered",
                                     "finetune:model_corrected", "eval:model_corrected"])
def test_killed_then_rerun_skips_finished_stages_and_ends_identical(tmp_path, data, kill_at):
    train, test = data
    reference = tmp_path / "reference"
    run_pipeline(train, test, reference, config(), toolkit=FakeStages().toolkit())

    run_dir = tmp_path / "killed"
    with pytest.raises(Kill):
        run_pipeline(train, test, run_dir, config(), toolkit=FakeStages(kill_at=kill_at).toolkit())
    rerun = FakeStages()
    run_pipeline(train, test, run_dir, config(), toolkit=rerun.toolkit())

    order = ["score", "filter", "finetune:model_filtered", "finetune:model_corrected",
             "eval:default", "eval:model_filtered", "eval:model_corrected"]
    finished_before = order[:order.index(kill_at)]
    for stage in finished_before:
        assert rerun.calls[stage] == 0, f"{stage} ran again"
    for stage in order[order.index(kill_at):]:
        assert rerun.calls[stage] == 1, f"{stage} did not run"
    assert _outputs(run_dir) == _outputs(reference)


def test_a_finished_run_does_nothing_when_run_again(tmp_path, data):
    train, test = data
    run_pipeline(train, test, tmp_path / "r", config(), toolkit=FakeStages().toolkit())
    again = FakeStages()
    run_pipeline(train, test, tmp_path / "r", config(), toolkit=again.toolkit())
    assert not [k for k in again.calls if not k.startswith("open:")]


def test_resuming_with_other_settings_is_refused(tmp_path, data):
    train, test = data
    run_pipeline(train, test, tmp_path / "r", config(), toolkit=FakeStages().toolkit())
    with pytest.raises(ClearftError, match="other settings"):
        run_pipeline(train, test, tmp_path / "r", config(seed=1), toolkit=FakeStages().toolkit())


def test_a_run_recorded_with_a_batch_size_resumes(tmp_path, data):
    """Runs recorded before rows-per-call left the settings (their state.json holds
    score_options.batch_size / correct.batch_size) still resume instead of being refused."""
    train, test = data
    run_pipeline(train, test, tmp_path / "r", config(), toolkit=FakeStages().toolkit())
    state_path = tmp_path / "r" / "state.json"
    state = json.loads(state_path.read_text())
    state["settings"]["score_options"]["batch_size"] = 16
    state["settings"]["correct"]["batch_size"] = 32
    state_path.write_text(json.dumps(state))
    again = FakeStages()
    run_pipeline(train, test, tmp_path / "r", config(), toolkit=again.toolkit())
    assert not [k for k in again.calls if not k.startswith("open:")]


def test_iterations_repeat_correct_and_finetune(tmp_path, data):
    train, test = data
    stages = FakeStages()
    summary = run_pipeline(train, test, tmp_path / "r", config(iterations=2), toolkit=stages.toolkit())
    assert stages.calls["finetune:model_corrected_2"] == 1
    assert (tmp_path / "r" / "corrected_2.jsonl").exists()
    assert "corrected_2" in summary["accuracy"]


def test_correct_all_gives_candidates_to_kept_rows_too(tmp_path, data):
    train, test = data
    summary = run_pipeline(train, test, tmp_path / "r", config(correct_all=True),
                           toolkit=FakeStages().toolkit())
    cands = list(open_dataset(str(tmp_path / "r" / "candidates.jsonl")))
    assert len(cands) == 4
    assert summary["accuracy"]["corrected"]["accuracy"] == 1.0


def test_dry_run_plan_counts_the_work(tmp_path, data):
    train, test = data
    plan = plan_run(train, test, config(baseline_full=True))
    names = [s.name for s in plan]
    assert names == ["score", "filter", "finetune_full", "finetune_filtered", "select", "candidates", "correct",
                     "train_corrected", "finetune_corrected", "eval_untuned", "eval_full", "eval_filtered",
                     "eval_corrected"]
    correct = plan[names.index("correct")]
    assert correct.model_calls == 2 * 2 * 4  # 2 dropped rows x 2 orders x 4 requests
    assert plan[names.index("eval_full")].model_calls == 4  # 4 test rows
    assert "training steps" in format_plan(plan)
    assert plan[names.index("filter")].what.startswith("keep ~")
    assert not (tmp_path / "RUN_DIR").exists()  # planning creates nothing
    # the automatic cut is not known before scoring: the plan says so instead of a count
    auto = plan_run(train, test, config(auto_threshold=True))
    assert "automatic cut" in next(s.what for s in auto if s.name == "filter")


@pytest.mark.parametrize("kw", [{}, {"baseline_full": True, "iterations": 2}, {"eval_untuned": False}])
def test_dry_run_plans_exactly_the_stages_the_run_runs(tmp_path, data, kw):
    """One declaration: the plan's stage names are the run's, in the run's order."""
    train, test = data
    run_pipeline(train, test, tmp_path / "r", config(**kw), toolkit=FakeStages().toolkit())
    order = json.loads((tmp_path / "r" / "state.json").read_text())["order"]
    assert [s.name for s in plan_run(train, test, config(**kw))] == order


def test_no_row_dropped_still_finishes(tmp_path):
    train = tmp_path / "train.jsonl"
    write_records(train, [r for r in ROWS if TRUTH[r["prompt"]] == r["response"]])
    summary = run_pipeline(train, None, tmp_path / "r", config(), toolkit=FakeStages().toolkit())
    assert summary["corrections"]["correct"]["replaced"] == 0
    assert len(list(open_dataset(str(tmp_path / "r" / "train_corrected.jsonl")))) == 2
