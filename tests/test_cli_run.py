"""`clearft run` and `clearft correct` on the command line (fake stages; no model)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clearft.cli.main import main
from clearft.data import write_records

from .test_correct_file import fine_tuned, truth_judge
from .test_pipeline_run import ROWS


@pytest.mark.parametrize("command", ["run", "correct"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--eta" in out
    if command == "run":
        assert all(flag in out for flag in ["--test", "--iterations", "--baseline-full", "--dry-run",
                                            "--finetune-command", "--fraction", "--method"])


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from clearft.cli.main import main\n"
            "try: main(['run', '--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'xllamacpp', 'sentence_transformers') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    write_records(train, ROWS)
    run_dir = tmp_path / "run"
    assert main(["run", str(train), "--test", str(train), "-o", str(run_dir), "--dry-run",
                 "--baseline-full", "--max-steps", "3", "--backend", "fake"]) == 0
    out = capsys.readouterr().out
    assert "| finetune_full |" in out and "| correct |" in out and "training steps" in out
    assert not run_dir.exists()


def test_finetune_flags_reach_the_config(tmp_path):
    from clearft.cli.main import build_parser
    from clearft.cli.run_cmd import build_config

    args = build_parser().parse_args(["run", "in.jsonl", "-o", "r", "--epochs", "2", "--lora-r", "8",
                                      "--finetune-set", "lora_dropout=0.1", "--eta", "0.9",
                                      "--judge-samples", "5", "--seed", "7", "--iterations", "2",
                                      "--finetune-command", "mytrain --data {data} --out {output}",
                                      "--fraction", "0.3", "--method", "bsdetector"])
    config = build_config(args)
    assert config.finetune == {"epochs": 2.0, "lora_r": 8, "lora_dropout": 0.1}
    assert config.correct.eta == 0.9 and config.correct.samples == 5 and config.correct.seed == 7
    assert config.iterations == 2
    assert config.finetune_command == "mytrain --data {data} --out {output}"
    assert config.fraction == 0.3 and config.method == "bsdetector"


def test_correct_command_writes_corrected_rows(tmp_path, monkeypatch, capsys):
    import clearft.backends.cache as cache

    data = tmp_path / "dropped.jsonl"
    write_records(data, [{"id": "1", "prompt": "q1", "response": "negative"},
                         {"id": "2", "prompt": "q2", "response": "negative"}])
    backends = {"judge": truth_judge(), "cand": fine_tuned()}
    monkeypatch.setattr(cache, "open_backend",
                        lambda name, cache=None, **o: backends["judge" if name == "fake" else "cand"])
    out = tmp_path / "corrected.jsonl"
    code = main(["correct", str(data), "--candidate-model", "m", "--candidate-backend", "transformers",
                 "--backend", "fake", "--judge", "llm", "-o", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["response"], r["clearft_original_response"]) for r in rows] == [
        ("1", "positive", "negative")]
    assert "1 of 1 rows replaced by the llm judge" in capsys.readouterr().out
    assert (tmp_path / "corrected.uncorrected.jsonl").exists()
