"""Every numeric option of every command refuses a bad value with one line naming the flag and
exit code 2, never a traceback (issue 14 item 5). The options are found by walking the
parsers, so a new numeric option is covered (or must declare its range) without editing here."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from clearft.cli.common import Ranged
from clearft.cli.main import build_parser, command_parsers, main

# Numeric options that take any number, with the reason. A negative value means something
# for none of clearft's options today (seeds, counts, rates, fractions, temperatures): every
# numeric option declares a range (clearft.cli.common.Ranged).
ANY_NUMBER: dict[tuple[str, str], str] = {}


def numeric_options() -> list[tuple[str, argparse.Action]]:
    out = []
    for name, parser in command_parsers(build_parser()).items():
        for action in parser._actions:
            if action.option_strings and action.type in (int, float):
                out.append((name, action))
    return out


OPTIONS = numeric_options()


def bad_values(action: argparse.Action) -> list[str]:
    """A value of the wrong kind, and one just outside the range on each bounded side."""
    values = ["abc"]
    if isinstance(action, Ranged):
        if action.low is not None:
            step = 1 if action.kind is int else 0.5
            values.append(str(action.low if action.low_open else action.kind(action.low - step)))
        if action.high is not None:
            values.append(str(action.high + 0.5))
        if action.kind is float:
            values.append("nan")
    return values


def good_values(action: Ranged) -> list[str]:
    values = [str(v) for v in action.extra]
    if action.low is not None:
        values.append(str(action.low + 0.25 if action.low_open else action.low))
    if action.high is not None:
        values.append(str(action.high))
    return values


def argv_for(name: str, action: argparse.Action, value: str) -> list[str]:
    """`clearft NAME` with placeholder positionals and required options, then the option."""
    parser = command_parsers(build_parser())[name]
    argv = [name]
    for other in parser._actions:
        if not other.option_strings:
            argv.append("x")
        elif other.required:
            argv += [other.option_strings[-1], "x"]
    flag = action.option_strings[-1]
    return argv + ([f"{flag}={value}"] if flag.startswith("--") else [flag, value])


def test_the_walk_finds_the_numeric_options_of_every_command() -> None:
    found = {(name, action.option_strings[-1]) for name, action in OPTIONS}
    for expected in [("correct", "--eta"), ("run", "--iterations"), ("report", "--page-size"),
                     ("generate", "-n"), ("finetune", "--learning-rate"), ("score", "--replicas"),
                     ("filter", "--fraction"), ("eval", "--eval-limit")]:
        assert expected in found
    assert len(found) > 60


@pytest.mark.parametrize("name, action", OPTIONS, ids=[f"{n} {a.option_strings[-1]}" for n, a in OPTIONS])
def test_every_numeric_option_declares_its_range(name: str, action: argparse.Action) -> None:
    key = (name, action.option_strings[-1])
    assert isinstance(action, Ranged) or key in ANY_NUMBER, (
        f"clearft {name} {key[1]}: give it a range (action=PositiveInt, UnitInterval, ... from "
        "clearft.cli.common) or list it in ANY_NUMBER with the reason")


@pytest.mark.parametrize("name, action", OPTIONS, ids=[f"{n} {a.option_strings[-1]}" for n, a in OPTIONS])
def test_a_bad_value_is_one_line_naming_the_flag_with_exit_code_2(
        name: str, action: argparse.Action, capsys: pytest.CaptureFixture[str]) -> None:
    for value in bad_values(action):
        try:
            main(argv_for(name, action, value))
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # what the installed command would show as a traceback
            pytest.fail(f"clearft {name} {action.option_strings[-1]} {value}: {type(exc).__name__}: {exc}")
        else:
            pytest.fail(f"clearft {name} {action.option_strings[-1]} {value} was accepted")
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"clearft {name}: error: argument {'/'.join(action.option_strings)}: "), err


@pytest.mark.parametrize("name, action", [(n, a) for n, a in OPTIONS if isinstance(a, Ranged)],
                         ids=[f"{n} {a.option_strings[-1]}" for n, a in OPTIONS if isinstance(a, Ranged)])
def test_the_ends_of_each_range_are_accepted(name: str, action: Ranged) -> None:
    parser = command_parsers(build_parser())[name]
    for value in good_values(action):
        args = parser.parse_args(argv_for(name, action, value)[1:])
        assert getattr(args, action.dest) == action.kind(value)


@pytest.mark.parametrize("argv, message", [
    (["correct", "x.jsonl", "-o", "y", "--eta", "1.5"], "argument --eta: must be between 0 and 1, got 1.5"),
    (["run", "x", "-o", "d", "--iterations", "0"], "argument --iterations: must be at least 1, got 0"),
    (["report", "d", "-o", "r.html", "--page-size", "0"], "argument --page-size: must be at least 1, got 0"),
])
def test_the_installed_command_shows_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "clearft.cli.main", *argv], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"clearft {argv[0]}: error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_run_config_value_out_of_range_is_the_same_error(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("iterations: 0\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["run", "in.jsonl", "-o", str(tmp_path / "r"), "--config", str(cfg)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "clearft run: error: argument --iterations: must be at least 1, got 0\n"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "{data}", "-o", "{tmp}/r", "--finetune-set", "lora_r=-1", "--dry-run"],
     "fine-tuning setting lora_r (--lora-r): must be a whole number at least 1, got -1"),
    (["score", "{data}", "-o", "{tmp}/s.jsonl", "--cross-fit", "2", "--cross-fit-set", "epochs=abc", "--dry-run"],
     "fine-tuning setting epochs (--epochs): must be a number above 0, got 'abc'"),
    (["finetune", "{data}", "-o", "{tmp}/m", "--config", "{tmp}/ft.json"],
     "fine-tuning setting warmup_ratio (--warmup-ratio): must be a number between 0 and 1, got 1.5"),
    (["run", "{data}", "-o", "{tmp}/r", "--finetune-set", "lr_scheduler=cosinus", "--dry-run"],
     "fine-tuning setting lr_scheduler (--lr-scheduler): 'cosinus' is not one of linear, cosine, "
     "cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt"),
])
def test_a_bad_fine_tuning_setting_from_a_file_or_key_value_is_one_line(
        argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n', encoding="utf-8")
    (tmp_path / "ft.json").write_text('{"warmup_ratio": 1.5}', encoding="utf-8")
    args = [a.format(data=data, tmp=tmp_path) for a in argv]
    assert main(args) == 1  # found before any work starts: nothing is written
    assert capsys.readouterr().err == f"clearft {argv[0]}: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "ft.json"]
