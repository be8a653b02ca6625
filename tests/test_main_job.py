"""The README's main job: examples/main_job.yaml is a config `clearft run` takes as is."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_main_job_config_plans_the_whole_loop(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/demo.sh runs this config: it plans the filter's automatic cut, three fine-tunes
    (all the noisy rows, the kept rows, kept + corrected) and four evaluations on the bundled
    slice, and a dry run writes nothing."""
    from clearft.cli.main import main

    monkeypatch.chdir(ROOT)  # the config's paths are relative to the repository root, as demo.sh runs it
    assert main(["run", "--config", "examples/main_job.yaml", "-o", str(tmp_path / "run"), "--dry-run",
                 "--no-progress"]) == 0
    plan = capsys.readouterr().out
    for stage in ["finetune_full", "finetune_filtered", "finetune_corrected", "eval_untuned", "eval_full",
                  "eval_filtered", "eval_corrected",
                  "automatic cut", "ensemble label model", "score 400 rows"]:
        assert stage in plan, stage
    assert not (tmp_path / "run").exists()


def test_main_job_config_is_the_flags_it_replaced(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from clearft.cli.main import main

    monkeypatch.chdir(ROOT)
    flags = ["examples/data/banking77_noisy.jsonl", "--test", "examples/data/banking77_test.jsonl", "--seed", "0",
             "--baseline-full", "--auto-threshold", "--group-by-length"]
    assert main(["run", *flags, "-o", "runs/demo", "--print-config"]) == 0
    by_flags = capsys.readouterr().out.splitlines()[1:]  # past the header line naming the source
    assert main(["run", "--config", "examples/main_job.yaml", "-o", "runs/demo", "--print-config"]) == 0
    by_file = capsys.readouterr().out.splitlines()[1:]
    assert by_file == by_flags and "auto-threshold: true" in by_file and "group-by-length: true" in by_file
    assert "baseline-full: true" in by_file
