"""One meaning per flag (issue 14 item 5): a flag that several commands take has one type, one
default and one help text everywhere, found by walking every subcommand's parser. Where a
difference is deliberate (or not yet fixed) it is listed below with the reason; a listed
difference that no longer exists is an error too, so the list stays true."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from clearft.cli.common import Ranged
from clearft.cli.main import build_parser, command_parsers

# (flag, field) -> why the commands differ in that field. Fields: type, default, help, choices.
# The type never differs: it is not in this list.
DIFFERENCES: dict[tuple[str, str], str] = {
    ("--output", "help"): "each command writes something else (scored file, kept rows, model folder, run dir, HTML)",
    ("--dry-run", "help"): "each command prints its own cost (model calls; rows, judge and fits; the plan)",
    ("--test", "help"): "eval requires it; run evaluates only when it is given",
    ("--threshold", "help"): "the same confidence cut in [0, 1]; the help says what this command does with the "
                             "rows below it (drop, give candidates, draw and count)",
    ("--cross-fit", "help"): "run's fold models also write candidates for kept rows, in RUN_DIR/crossfit/",
    ("--fraction", "help"): "run drops half by default, filter fits a mixture (run's '(0.5)' states its default); "
                            "one default rule would change run outputs (BENCHMARKS.md), left for the pipeline's owner",
    ("--method", "default"): "run: None = not given; RunConfig applies score's default (auto), and RUN_DIR/config.yaml "
                             "keeps showing what the user set",
    ("--method", "help"): "run points to `clearft score --help` for the methods",
    ("--preset", "default"): "run: None = not given; RunConfig applies score's default (medium), as for --method",
    ("--preset", "help"): "run: the same presets, without the default (see --preset default)",
    ("--seed", "default"): "finetune: None = not given, so a --config JSON's seed stands (FinetuneConfig's default "
                           "is 0, as everywhere else)",
    ("--backend", "default"): "eval takes several models: without --backend each MODEL picks its own backend",
    ("--backend", "help"): "eval: forces one backend on every MODEL (see --backend default)",
    ("--model", "help"): "correct: the fine-tuned model that writes candidates, not the model being curated "
                         "(issue 14 item 4, one model everywhere, is not done here)",
    ("--candidate-backend", "default"): "correct: from --model (folder: transformers, .gguf: llamacpp); run: its "
                                        "own fine-tuned folders, so transformers",
    ("--candidate-backend", "help"): "see --candidate-backend default",
    ("--base-model", "help"): "run: an override of the curated model (--model) as the fine-tuning base; finetune: "
                              "the base itself (finetune has no --model)",
    ("--config", "help"): "finetune: a JSON file of FinetuneConfig fields; run: a YAML/TOML file of run's options "
                          "(two meanings, left: finetune's predates run's config files)",
}

# Flags the brief names as shared: each must be taken by at least two commands.
SHARED = ["--seed", "--backend", "--model", "--cache", "--no-progress", "--concurrency", "--format",
          "--prompt-col", "--response-col", "--id-col", "--on-error", "--batch-size", "--max-tokens",
          "--threshold", "--base-url", "--api-key-env", "--file-type", "--metric", "--cross-fit-parts"]

# Commands that show progress (bars or progress messages): each takes --no-progress.
SHOW_PROGRESS = ["score", "correct", "finetune", "eval", "run"]


def signature(action: argparse.Action) -> dict[str, Any]:
    kind = type(action).__name__ if isinstance(action, Ranged) else (
        getattr(action.type, "__name__", action.type), type(action).__name__)
    return {"type": kind, "default": action.default, "help": action.help, "choices": action.choices}


def flags_by_command() -> dict[str, dict[str, dict[str, Any]]]:
    """Long flag -> command -> signature, for every option shown in --help (hidden aliases,
    such as finetune's --quiet, keep an old script working and are not compared)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, parser in command_parsers(build_parser()).items():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    out.setdefault(flag, {})[name] = signature(action)
    return out


def differences() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for flag, per_command in flags_by_command().items():
        if len(per_command) < 2:
            continue
        for field in ("type", "default", "help", "choices"):
            values = {name: sig[field] for name, sig in per_command.items()}
            if len({repr(v) for v in values.values()}) > 1:
                found[(flag, field)] = values
    return found


def test_the_walk_sees_the_shared_flags() -> None:
    flags = flags_by_command()
    for flag in SHARED:
        assert len(flags.get(flag, {})) >= 2, (flag, sorted(flags.get(flag, {})))


def test_a_shared_flag_has_one_type_default_and_help_unless_listed_with_a_reason() -> None:
    found = differences()
    unexplained = {k: v for k, v in found.items() if k not in DIFFERENCES}
    assert not unexplained, "shared flags that differ between commands:\n" + "\n".join(
        f"  {flag} {field}: {values}" for (flag, field), values in unexplained.items())
    assert not [k for k in found if k[1] == "type"], "a flag's type is the same in every command"


def test_every_listed_difference_still_exists() -> None:
    stale = sorted(set(DIFFERENCES) - set(differences()))
    assert not stale, f"no longer different, drop them from DIFFERENCES: {stale}"


def test_every_command_that_shows_progress_takes_no_progress() -> None:
    flags = flags_by_command()
    assert set(SHOW_PROGRESS) <= set(flags["--no-progress"]), sorted(flags["--no-progress"])
    parsers = command_parsers(build_parser())
    args = parsers["eval"].parse_args(["m", "--test", "t", "--no-progress"])
    assert args.no_progress is True


def test_the_old_names_still_work() -> None:
    finetune = command_parsers(build_parser())["finetune"]
    args = finetune.parse_args(["d", "-o", "m", "--quiet", "--batch-size", "4"])
    assert (args.no_progress, args.batch_size) == (True, 4)
    assert finetune.parse_args(["d", "-o", "m", "--train-batch-size", "4"]).batch_size == 4


def test_fake_is_not_offered_but_still_accepted() -> None:
    for flag, per_command in flags_by_command().items():
        for name, sig in per_command.items():
            assert "fake" not in (sig["help"] or ""), (name, flag)
    listing = subprocess.run([sys.executable, "-m", "clearft.cli.main", "backends"],
                             capture_output=True, text=True, check=True).stdout
    assert "llamacpp" in listing and "fake" not in listing
    args = command_parsers(build_parser())["score"].parse_args(["x", "-o", "o", "--backend", "fake"])
    assert args.backend == "fake"  # tests reach the scripted backend through the CLI too
