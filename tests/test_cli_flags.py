"""One meaning per flag (issue 14 item 5): a flag that several commands take has one type, one
default and one help text everywhere, found by walking every subcommand's parser. Where a
difference is deliberate (or not yet fixed) it is listed below with the reason; a listed
difference that no longer exists is an error too, so the list stays true."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

from clearft.cli.common import Ranged
from clearft.cli.main import build_parser, command_parsers

# (flag, field) -> why the commands differ in that field. Fields: type, default, help, choices,
# dest. The type and the dest never differ: they are not in this list.
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
    ("--model", "help"): "the same model (the one being curated) everywhere; finetune's help says it must be a "
                         "local file or folder, since a hosted model is fine-tuned with --openai-model",
    ("--candidate-backend", "default"): "correct: from --candidate-model (folder: transformers, .gguf: llamacpp); "
                                        "run: its own fine-tuned folders, so transformers",
    ("--candidate-backend", "help"): "see --candidate-backend default",
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
    return {"type": kind, "default": action.default, "help": action.help, "choices": action.choices,
            "dest": action.dest}


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
        for field in ("type", "default", "help", "choices", "dest"):
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
    assert not [k for k in found if k[1] in ("type", "dest")], "a flag's type and dest are the same everywhere"


def test_every_listed_difference_still_exists() -> None:
    stale = sorted(set(DIFFERENCES) - set(differences()))
    assert not stale, f"no longer different, drop them from DIFFERENCES: {stale}"


def test_every_command_that_shows_progress_takes_no_progress() -> None:
    flags = flags_by_command()
    assert set(SHOW_PROGRESS) <= set(flags["--no-progress"]), sorted(flags["--no-progress"])
    parsers = command_parsers(build_parser())
    args = parsers["eval"].parse_args(["m", "--test", "t", "--no-progress"])
    assert args.no_progress is True


def test_one_meaning_has_one_name() -> None:
    """A meaning several commands share is spelled one way: the old spellings are hidden."""
    flags = flags_by_command()
    for flag, commands in [("--eval-limit", {"eval", "run"}), ("--correct-all", {"correct", "run"}),
                           ("--train-batch-size", {"finetune", "run"}), ("--batch-size", {"score", "correct", "run"})]:
        assert set(flags[flag]) == commands, (flag, sorted(flags[flag]))
    for old in ("--limit", "--all", "--quiet", "--judge-model", "--judge-backend"):
        assert old not in flags, old
    for name, old in [("eval", "--limit"), ("correct", "--all"), ("finetune", "--quiet"), ("finetune", "--batch-size"),
                      ("finetune", "--base-model"), ("correct", "--judge-model"), ("correct", "--judge-backend")]:
        assert old not in command_parsers(build_parser())[name].format_help(), (name, old)


def test_the_old_names_still_work() -> None:
    parsers = command_parsers(build_parser())
    finetune = parsers["finetune"]
    args = finetune.parse_args(["d", "-o", "m", "--quiet", "--batch-size", "4"])
    assert (args.no_progress, args.train_batch_size) == (True, 4)
    assert finetune.parse_args(["d", "-o", "m", "--train-batch-size", "4"]).train_batch_size == 4
    assert parsers["eval"].parse_args(["m", "--test", "t", "--limit", "5"]).eval_limit == 5
    assert parsers["eval"].parse_args(["m", "--test", "t", "--eval-limit", "5"]).eval_limit == 5
    assert parsers["correct"].parse_args(["d", "-o", "o", "--all"]).correct_all is True
    assert parsers["correct"].parse_args(["d", "-o", "o", "--correct-all"]).correct_all is True
    assert parsers["correct"].parse_args(["d", "-o", "o"]).correct_all is False
    # issue 14 item 4: --model names the model being curated in every command
    assert finetune.parse_args(["d", "-o", "m", "--base-model", "b.gguf"]).model == "b.gguf"
    assert finetune.parse_args(["d", "-o", "m", "--model", "b.gguf"]).model == "b.gguf"
    assert finetune.parse_args(["d", "-o", "m"]).model is None
    old = parsers["correct"].parse_args(["d", "-o", "o", "--judge-backend", "transformers", "--judge-model", "j/"])
    new = parsers["correct"].parse_args(["d", "-o", "o", "--backend", "transformers", "--model", "j/"])
    assert vars(old) == vars(new) and (new.backend, new.model) == ("transformers", "j/")
    assert parsers["correct"].parse_args(["d", "-o", "o"]).backend == "llamacpp"


def test_rows_per_call_has_one_default_which_reaches_both_configs() -> None:
    from clearft.cli.common import ROWS_PER_CALL
    from clearft.cli.correct_cmd import correct_config
    from clearft.cli.run_cmd import build_config
    from clearft.pipeline.toolkit import run_score_config

    parsers = command_parsers(build_parser())
    assert {sig["default"] for sig in flags_by_command()["--batch-size"].values()} == {ROWS_PER_CALL}
    assert correct_config(parsers["correct"].parse_args(["d", "-o", "o"])).batch_size == ROWS_PER_CALL
    config = build_config(parsers["run"].parse_args(["d", "-o", "r"]))
    assert run_score_config(config).batch_size == config.correct.batch_size == ROWS_PER_CALL
    config = build_config(parsers["run"].parse_args(["d", "-o", "r", "--batch-size", "3"]))
    assert run_score_config(config).batch_size == config.correct.batch_size == 3


def test_the_batch_size_is_not_part_of_a_runs_settings() -> None:
    """Rows per call change no output, so a killed run may resume with another --batch-size."""
    from clearft.cli.run_cmd import build_config

    run = command_parsers(build_parser())["run"]
    a = build_config(run.parse_args(["d", "-o", "r", "--batch-size", "3"])).fingerprint()
    b = build_config(run.parse_args(["d", "-o", "r", "--batch-size", "40"])).fingerprint()
    assert a == b


# What another command can set that `run` cannot, and why: run is able to set everything
# score, correct and finetune can, but these.
NOT_IN_RUN = {
    "score": {"--output-file-type": "run names its own files (RUN_DIR/scored.jsonl, ...)",
              "--cross-fit-dir": "run's fold models go to RUN_DIR/crossfit/",
              "--cross-fit-set": "run's fold models take the run's fine-tuning settings (the hyperparameter "
                                 "flags and --finetune-set)"},
    "correct": {"--context": "run's evidence judge learns from the whole input already",
                "--uncorrected": "run writes it into RUN_DIR",
                "--candidate-model": "run's candidates come from the models it fine-tunes"},
    "finetune": {"--command": "run: --finetune-command",
                 "--openai-model": "run fine-tunes its model locally (or with --finetune-command)",
                 "--no-merge": "run serves and evaluates the merged models",
                 "--gguf": "run: --finetune-set gguf=..."},
}


@pytest.mark.parametrize("command", sorted(NOT_IN_RUN))
def test_run_can_set_what_score_correct_and_finetune_can(command: str) -> None:
    flags = flags_by_command()
    missing = {flag for flag, per_command in flags.items() if command in per_command and "run" not in per_command}
    assert missing == set(NOT_IN_RUN[command])


# Score options given to score and to run (with the same --method and --preset, which run
# leaves unset by default).
SCORE_FLAGS = ["--method", "bsdetector", "--preset", "low", "--alpha", "0.6", "--beta", "0.4", "-k", "4",
               "--rounds", "1", "--similarity", "exact", "--compare", "reply", "--nli-model", "nli/",
               "--max-tokens", "33", "--no-logprobs", "--classifier", "knn", "--batch-size", "5", "--seed", "3"]


def test_runs_score_options_reach_its_score_config_as_scores_do() -> None:
    from clearft.cli.run_cmd import build_config
    from clearft.cli.score_cmd import score_overrides
    from clearft.pipeline.toolkit import run_score_config
    from clearft.scoring import make_config

    parsers = command_parsers(build_parser())
    sargs = parsers["score"].parse_args(["d", "-o", "o", *SCORE_FLAGS])
    by_score = make_config(sargs.preset, method=sargs.method, seed=sargs.seed, **score_overrides(sargs))
    by_run = run_score_config(build_config(parsers["run"].parse_args(["d", "-o", "r", *SCORE_FLAGS])))
    assert by_run == by_score
    assert (by_run.alpha, by_run.beta, by_run.k, by_run.rounds, by_run.similarity, by_run.compare) == (
        0.6, 0.4, 4, 1, "exact", "reply")
    assert (by_run.nli_model, by_run.sample_max_tokens, by_run.classifier, by_run.batch_size,
            by_run.use_logprobs, by_run.seed) == ("nli/", 33, "knn", 5, False, 3)


def test_without_score_options_run_scores_as_score_does() -> None:
    from clearft.cli.run_cmd import build_config
    from clearft.pipeline.toolkit import run_score_config
    from clearft.scoring import make_config

    run = command_parsers(build_parser())["run"]
    config = build_config(run.parse_args(["d", "-o", "r"]))
    assert run_score_config(config) == make_config(seed=0)
    assert config.fingerprint()["score_options"] == {}  # as recorded by runs made before the options


def test_runs_cross_fit_options_reach_its_cross_fit_config() -> None:
    from clearft.cli.run_cmd import build_config
    from clearft.pipeline.toolkit import run_crossfit_config

    run = command_parsers(build_parser())["run"]
    config = build_config(run.parse_args(["d", "-o", "r", "--cross-fit", "3", "--cross-fit-weight", "0.25",
                                          "--cross-fit-normalise-up-to", "7"]))
    cf = run_crossfit_config(config)
    assert (cf.folds, cf.label_weight, cf.max_normalised_labels) == (3, 0.25, 7)
    default = run_crossfit_config(build_config(run.parse_args(["d", "-o", "r", "--cross-fit", "3"])))
    assert "cross_fit_options" not in build_config(run.parse_args(["d", "-o", "r", "--cross-fit", "3"])).fingerprint()
    assert (default.label_weight, default.max_normalised_labels) != (0.25, 7)


def test_runs_finetune_flags_are_finetunes() -> None:
    from clearft.cli.finetune_cmd import build_config as finetune_config
    from clearft.cli.run_cmd import finetune_overrides

    flags = ["--lora-alpha", "8", "--lora-dropout", "0.2", "--target-modules", "q_proj,v_proj",
             "--warmup-ratio", "0.1", "--lr-scheduler", "cosine", "--weight-decay", "0.01",
             "--train-batch-size", "4", "--device", "cpu", "--gradient-checkpointing"]
    parsers = command_parsers(build_parser())
    by_run = finetune_overrides(parsers["run"].parse_args(["d", "-o", "r", "--seed", "5", *flags]))
    assert "seed" not in by_run  # the run's seed is its own setting
    by_finetune = finetune_config(parsers["finetune"].parse_args(["d", "-o", "m", *flags]))
    assert {k: getattr(by_finetune, k) for k in by_run} == by_run
    assert by_run["target_modules"] == ["q_proj", "v_proj"] and by_run["batch_size"] == 4


def test_fake_is_not_offered_but_still_accepted() -> None:
    for flag, per_command in flags_by_command().items():
        for name, sig in per_command.items():
            assert "fake" not in (sig["help"] or ""), (name, flag)
    listing = subprocess.run([sys.executable, "-m", "clearft.cli.main", "backends"],
                             capture_output=True, text=True, check=True).stdout
    assert "llamacpp" in listing and "fake" not in listing
    args = command_parsers(build_parser())["score"].parse_args(["x", "-o", "o", "--backend", "fake"])
    assert args.backend == "fake"  # tests reach the scripted backend through the CLI too
