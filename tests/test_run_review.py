"""`clearft run --review DECISIONS` (issue 17): a finished run continued with a reviewer's
decisions: applied to the run's latest training set, fine-tuned again and evaluated as new
resumable stages (the loop with the fake stages of tests/test_pipeline_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.cli.main import build_parser
from clearft.correction import CorrectConfig
from clearft.data import open_dataset
from clearft.errors import ClearftError
from clearft.pipeline import RunConfig, format_plan, plan_run, run_pipeline

from .test_pipeline_run import FakeStages, Kill, _outputs, data  # noqa: F401 - the fixture

# Auto-Correct refuses every candidate (eta 1), so the two noisy rows are left to the reviewer.
REFUSE_ALL = CorrectConfig(judge="llm", eta=1.0)
EARLIER = ["score", "filter", "finetune:model_filtered", "finetune:model_corrected", "eval:default",
           "eval:model_filtered", "eval:model_corrected"]


def config(review: Path | None = None) -> RunConfig:
    return RunConfig(backend="fake", candidate_backend="fake-candidates", correct=REFUSE_ALL,
                     review=str(review) if review else None)


def decisions_file(run_dir: Path, path: Path, q3: str = "drop") -> Path:
    """The reviewer fixes q1 (edit) and drops q3 (or keeps it): ids from the rows the run left out."""
    ids = {ex.prompt_text: ex.id for ex in open_dataset(run_dir / "uncorrected.jsonl")}
    lines = [{"id": ids["q1"], "decision": "edit", "new_target": "positive", "reviewer": "ann"},
             {"id": ids["q3"], "decision": q3}]
    path.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    return path


def test_review_continues_a_finished_run_with_new_stages_only(tmp_path: Path, data) -> None:  # noqa: F811
    train, test = data
    run_dir = tmp_path / "run"
    before = run_pipeline(train, test, run_dir, config(), toolkit=FakeStages().toolkit())
    assert before["accuracy"]["corrected"]["accuracy"] == 0.5  # nothing corrected: q1, q3 dropped
    decisions = decisions_file(run_dir, tmp_path / "decisions.jsonl")

    stages = FakeStages()
    summary = run_pipeline(train, test, run_dir, config(decisions), toolkit=stages.toolkit())
    assert not [s for s in EARLIER if stages.calls[s]]  # finished stages are not redone
    assert stages.calls["finetune:model_reviewed"] == 1 and stages.calls["eval:model_reviewed"] == 1
    reviewed = {ex.prompt_text: ex for ex in open_dataset(run_dir / "train_reviewed.jsonl")}
    assert sorted(reviewed) == ["q1", "q2", "q4"]  # q1 brought back, fixed; q3 dropped
    assert reviewed["q1"].response == "positive"
    assert reviewed["q1"].record["clearft_original_response"] == "negative"
    assert reviewed["q1"].record["clearft_review"]["reviewer"] == "ann"
    assert [ex.prompt_text for ex in open_dataset(run_dir / "review_dropped.jsonl")] == ["q3"]
    trained = json.loads((run_dir / "model_reviewed" / "trained_on.json").read_text())
    assert sorted(trained) == [["q1", "positive"], ["q2", "negative"], ["q4", "positive"]]
    assert summary["accuracy"]["reviewed"] == {"accuracy": 0.75, "n": 4}
    assert summary["models"]["reviewed"].endswith("model_reviewed")
    assert summary["review"]["decisions"] == {"drop": 1, "edit": 1}
    order = json.loads((run_dir / "state.json").read_text())["order"]
    assert order[-3:] == ["review", "finetune_reviewed", "eval_reviewed"]

    again = FakeStages()
    run_pipeline(train, test, run_dir, config(decisions), toolkit=again.toolkit())
    assert not [k for k in again.calls if not k.startswith("open:")]  # all done: nothing runs


def test_other_decisions_on_a_reviewed_run_are_refused(tmp_path: Path, data) -> None:  # noqa: F811
    train, test = data
    run_dir = tmp_path / "run"
    run_pipeline(train, test, run_dir, config(), toolkit=FakeStages().toolkit())
    first = decisions_file(run_dir, tmp_path / "first.jsonl")
    run_pipeline(train, test, run_dir, config(first), toolkit=FakeStages().toolkit())
    other = decisions_file(run_dir, tmp_path / "other.jsonl", q3="keep")
    with pytest.raises(ClearftError, match="already continued with another decisions file"):
        run_pipeline(train, test, run_dir, config(other), toolkit=FakeStages().toolkit())
    with pytest.raises(ClearftError, match="--review .*missing.jsonl: no such file"):
        run_pipeline(train, test, run_dir, config(tmp_path / "missing.jsonl"), toolkit=FakeStages().toolkit())


@pytest.mark.parametrize("kill_at", ["finetune:model_reviewed", "eval:model_reviewed"])
def test_a_review_killed_midway_resumes_and_ends_identical(tmp_path: Path, data, kill_at: str) -> None:  # noqa: F811
    train, test = data
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for run_dir in (reference, killed):
        run_pipeline(train, test, run_dir, config(), toolkit=FakeStages().toolkit())
    decisions = decisions_file(reference, tmp_path / "decisions.jsonl")  # ids are content hashes: same in both
    run_pipeline(train, test, reference, config(decisions), toolkit=FakeStages().toolkit())
    with pytest.raises(Kill):
        run_pipeline(train, test, killed, config(decisions), toolkit=FakeStages(kill_at=kill_at).toolkit())
    rerun = FakeStages()
    run_pipeline(train, test, killed, config(decisions), toolkit=rerun.toolkit())
    assert rerun.calls[kill_at] == 1 and not [s for s in EARLIER if rerun.calls[s]]
    assert _outputs(killed).keys() == _outputs(reference).keys()
    for name, text in _outputs(reference).items():
        assert _outputs(killed)[name] == text.replace(str(reference), str(killed)), name


def test_the_flag_reaches_the_run_and_its_plan(tmp_path: Path, data) -> None:  # noqa: F811
    from clearft.cli.run_cmd import build_config

    train, test = data
    decisions = tmp_path / "d.jsonl"
    decisions.write_text('{"id": "1", "decision": "drop"}\n', encoding="utf-8")
    args = build_parser().parse_args(["run", str(train), "-o", str(tmp_path / "r"), "--review", str(decisions)])
    cfg = build_config(args)
    assert cfg.review == str(decisions)
    assert "review" not in cfg.fingerprint()  # continuing a run keeps its earlier settings
    names = [s.name for s in plan_run(train, test, cfg)]
    assert names[-6:] == ["review", "finetune_reviewed", "eval_untuned", "eval_filtered", "eval_corrected", "eval_reviewed"]
    assert "apply 1 reviewer decisions" in format_plan(plan_run(train, test, cfg))
