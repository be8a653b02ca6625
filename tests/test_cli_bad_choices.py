"""Backend, metric and scheduler names are checked before anything runs: a bad one is one line
naming the flag, exit code 2 (issue 14). Flags are spelled out (no prefix matching), and the
scripted `fake` backend is the tests' alone (CLEARFT_TEST_BACKENDS=1, set in conftest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clearft.backends.registry import load_backend
from clearft.cli.main import main
from clearft.errors import ClearftError


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, flag", [
    (["finetune", "x.jsonl", "-o", "m", "--lr-scheduler", "bogus"], "--lr-scheduler"),
    (["run", "x.jsonl", "-o", "r", "--candidate-backend", "bogus", "--dry-run"], "--candidate-backend"),
    (["run", "x.jsonl", "-o", "r", "--eval-backend", "bogus", "--dry-run"], "--eval-backend"),
    (["run", "x.jsonl", "-o", "r", "--metric", "bogus", "--dry-run"], "--metric"),
    (["eval", "m", "--test", "t.jsonl", "--metric", "bogus"], "--metric"),
    (["correct", "x.jsonl", "-o", "c", "--candidate-backend", "bogus"], "--candidate-backend"),
    (["correct", "x.jsonl", "-o", "c", "--backend", "bogus"], "--backend"),
    (["correct", "x.jsonl", "-o", "c", "--judge-backend", "bogus"], "--backend"),  # the old name of --backend
    (["score", "x.jsonl", "-o", "s", "--backend", "bogus"], "--backend"),
])
def test_a_bad_name_is_one_line_naming_the_flag(argv: list[str], flag: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(argv, capsys)
    assert flag in err and "bogus" in err


def test_a_bad_name_from_a_run_config_file_is_the_same_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("metric: bogus\n")
    err = one_line_error(["run", "x.jsonl", "-o", str(tmp_path / "r"), "--config", str(cfg), "--dry-run"], capsys)
    assert "--metric" in err and "bogus" in err


def test_flags_are_not_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(["finetune", "x.jsonl", "-o", "m", "--lr", "0"], capsys)
    assert "--lr" in err and "unrecognized" in err


def test_fake_is_refused_without_the_test_switch(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CLEARFT_TEST_BACKENDS", raising=False)
    err = one_line_error(["score", "x.jsonl", "-o", "s", "--backend", "fake"], capsys)
    assert "--backend" in err and "'fake'" in err
    assert "fake" not in err.split("choose from")[1]
    with pytest.raises(ClearftError) as exc:
        load_backend("bogus")
    assert "fake" not in str(exc.value)
    assert load_backend("fake") is not None  # the Python API keeps it


def write_one_row(tmp_path: Path) -> Path:
    data = tmp_path / "x.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n')
    return data


def test_run_dry_run_shows_the_scorers_refusal_not_a_guess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["run", str(write_one_row(tmp_path)), "-o", str(tmp_path / "r"), "--method", "perplexity",
                 "--backend", "openai", "--finetune-command", "true {data} {output}", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 1  # as `clearft score` refuses the same combination
    assert "rough guess" not in out
    assert "perplexity" in err and "\n" not in err.strip()


def test_run_dry_run_guesses_when_the_model_cannot_be_opened(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(write_one_row(tmp_path)), "-o", str(tmp_path / "r"), "--model",
                 str(tmp_path / "missing.gguf"), "--finetune-command", "true {data} {output}", "--dry-run"])
    assert code == 0
    assert "rough guess" in capsys.readouterr().out


def test_score_cross_fit_refusal_names_only_flags_score_has(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from clearft.cli.main import build_parser, command_parsers

    code = main(["score", str(write_one_row(tmp_path)), "-o", str(tmp_path / "s.jsonl"), "--backend", "openai",
                 "--cross-fit", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot be fine-tuned" in err
    score_flags = {f for a in command_parsers(build_parser())["score"]._actions for f in a.option_strings}
    named = set(re.findall(r"--[a-z][a-z-]*", err))
    assert named and named <= score_flags, named - score_flags
