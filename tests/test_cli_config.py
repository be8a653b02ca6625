"""`clearft run --config FILE` (YAML or TOML), `--print-config`, and RUN_DIR/config.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clearft.cli.main import build_parser, main
from clearft.data import write_records

from .test_api_curate import TRAINER
from .test_pipeline_run import ROWS


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["run", *argv])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


YAML = "fraction: 0.3\ntrain_batch_size: 4\niterations: 2\nfinetune-set: {lora_dropout: 0.1}\ncache: 'off'\n"
TOML = 'fraction = 0.3\ntrain_batch_size = 4\niterations = 2\ncache = "off"\n[finetune-set]\nlora_dropout = 0.1\n'


@pytest.mark.parametrize("name, text", [("run.yaml", YAML), ("run.toml", TOML)])
def test_the_file_overrides_defaults_and_flags_override_the_file(tmp_path: Path, name: str, text: str) -> None:
    cfg = write(tmp_path / name, text)
    args = parse("in.jsonl", "-o", "r", "--config", str(cfg))
    assert (args.fraction, args.train_batch_size, args.iterations, args.cache) == (0.3, 4, 2, "off")
    assert args.finetune_set == ["lora_dropout=0.1"]
    assert args.seed == 0 and args.backend == "llamacpp"  # not in the file: the defaults
    # Flags win, whether they come before or after --config.
    args = parse("--fraction", "0.2", "in.jsonl", "-o", "r", "--config", str(cfg), "--iterations", "1")
    assert (args.fraction, args.iterations, args.train_batch_size) == (0.2, 1, 4)
    from clearft.cli.run_cmd import build_config

    config = build_config(args)
    assert config.fraction == 0.2 and config.finetune == {"batch_size": 4, "lora_dropout": 0.1}


def test_the_file_may_name_the_data_and_the_run_dir(tmp_path: Path) -> None:
    cfg = write(tmp_path / "run.yaml", "input: data.jsonl\noutput: runs/a\ntest: test.jsonl\nno_progress: true\n")
    args = parse("--config", str(cfg))
    assert (args.input, args.output, args.test, args.no_progress) == ("data.jsonl", "runs/a", "test.jsonl", True)
    args = parse("other.jsonl", "--config", str(cfg), "-o", "runs/b")
    assert (args.input, args.output) == ("other.jsonl", "runs/b")


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clearft.cli.main", "run", *argv],
                          capture_output=True, text=True)


@pytest.mark.parametrize("text, message", [
    ("fractoin: 0.3\n", "unknown key 'fractoin': not an option of clearft run (did you mean 'fraction'?)"),
    ("help: true\n", "'help' cannot be set in a config file"),
    ("fraction: lots\n", "key 'fraction': expected a number, got text"),
    ("iterations: 1.5\n", "key 'iterations': expected a whole number"),
    ("no-progress: 'yes'\n", "key 'no-progress': expected true or false"),
    ("cache: off\n", "key 'cache': expected text, got a boolean (false) (YAML reads yes/no/on/off"),
    ("judge: oracle\n", "key 'judge': 'oracle' is not one of auto, evidence, estimator, llm"),
    ("iterations: null\n", "key 'iterations': needs a value"),
    ("- fraction\n", "must hold a mapping"),
    ("fraction: [\n", "not valid YAML at line"),
])
def test_a_bad_file_is_a_one_line_error_with_exit_code_2(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path / "run.yaml", text)
    proc = run_cli("in.jsonl", "-o", str(tmp_path / "r"), "--config", str(cfg))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"clearft run: error: {cfg}: "), lines[0]
    assert message in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


def test_a_missing_or_unknown_kind_of_file_is_an_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for path in (tmp_path / "none.yaml", write(tmp_path / "run.json", "{}")):
        with pytest.raises(SystemExit) as exc:
            main(["run", "in.jsonl", "-o", "r", "--config", str(path)])
        assert exc.value.code == 2
        assert str(path) in capsys.readouterr().err


def test_print_config_shows_the_effective_options_and_reads_back(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = write(tmp_path / "run.yaml", YAML)
    assert main(["run", "in.jsonl", "-o", "r", "--config", str(cfg), "--fraction", "0.2", "--print-config"]) == 0
    printed = capsys.readouterr().out
    shown = yaml.safe_load(printed)
    assert shown["fraction"] == 0.2 and shown["train-batch-size"] == 4 and shown["iterations"] == 2
    assert shown["input"] == "in.jsonl" and shown["backend"] == "llamacpp" and shown["method"] is None
    assert "config" not in shown and "print-config" not in shown
    again = write(tmp_path / "printed.yaml", printed)
    assert main(["run", "--config", str(again), "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == shown
    # With nothing given it still prints (the defaults, input and output unset).
    assert main(["run", "--print-config"]) == 0
    defaults = yaml.safe_load(capsys.readouterr().out)
    assert defaults["input"] is None and defaults["fraction"] is None and defaults["seed"] == 0
    assert not Path("r").exists()


def test_a_printed_template_with_unset_data_still_needs_it_on_the_command_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "run.yaml", "input: null\noutput: null\nfraction: 0.4\n")
    with pytest.raises(SystemExit):
        parse("--config", str(cfg))
    assert parse("d.jsonl", "-o", "r", "--config", str(cfg)).fraction == 0.4


def test_the_run_dir_keeps_the_effective_config(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    train = tmp_path / "train.jsonl"
    write_records(train, [{"prompt": r["prompt"], "response": r["response"]} for r in ROWS])
    run_dir = tmp_path / "run"
    cfg = write(tmp_path / "run.yaml", yaml.safe_dump({
        "backend": "fake", "candidate-backend": "fake", "method": "perplexity", "judge": "llm",
        "finetune_command": TRAINER, "fraction": 0.5, "no-progress": True,
    }))
    assert main(["run", str(train), "-o", str(run_dir), "--config", str(cfg), "--seed", "3"]) == 0
    assert "config.yaml" in capsys.readouterr().out
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["backend"] == "fake" and saved["finetune-command"] == TRAINER and saved["seed"] == 3
    assert saved["fraction"] == 0.5 and saved["input"] == str(train) and saved["output"] == str(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    assert state["settings"]["seed"] == 3 and state["settings"]["fraction"] == 0.5
    # The saved file reruns the run: it resumes (same settings), and is rewritten.
    assert main(["run", "--config", str(run_dir / "config.yaml")]) == 0
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == saved
    # A rerun with other settings is refused and leaves config.yaml as it was.
    assert main(["run", "--config", str(run_dir / "config.yaml"), "--fraction", "0.3"]) == 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["fraction"] == 0.5


def test_a_dry_run_from_a_config_writes_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    train = tmp_path / "train.jsonl"
    write_records(train, ROWS)
    cfg = write(tmp_path / "run.yaml", f"input: {train}\noutput: {tmp_path / 'run'}\nbackend: fake\n"
                                       "dry-run: true\nmax-steps: 3\n")
    assert main(["run", "--config", str(cfg)]) == 0
    assert "| correct |" in capsys.readouterr().out and not (tmp_path / "run").exists()
