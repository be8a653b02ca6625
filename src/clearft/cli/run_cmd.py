"""`clearft run`: the whole CLEAR loop in one resumable command (score, filter, fine-tune,
correct, fine-tune again, evaluate), every stage's output kept in RUN_DIR."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from clearft.cli.common import (
    FoldCount,
    PositiveInt,
    UnitInterval,
    add_backend_args,
    add_data_args,
    add_engine_args,
    add_no_progress_arg,
    add_seed_arg,
)
from clearft.cli.config_file import enable_config_file
from clearft.cli.correct_cmd import add_correct_all_arg, add_judge_args
from clearft.cli.eval_cmd import METRIC_HELP, add_eval_limit_arg
from clearft.cli.finetune_cmd import (
    GRADIENT_CHECKPOINTING_HELP,
    GROUP_BY_LENGTH_HELP,
    HYPERPARAMETERS,
    add_hyperparameter,
)
from clearft.cli.score_cmd import add_cross_fit_options, add_score_options

# `clearft finetune`'s hyperparameters, with its ranges and help; all but --seed, which is
# the run's own (fine-tuning included).
RUN_OWN = ("--seed",)
FINETUNE_FLAGS = [(flag, kind, text) for flag, _field, kind, text in HYPERPARAMETERS if flag not in RUN_OWN]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="the whole loop: score, filter, fine-tune, correct, fine-tune again, evaluate",
        description="Runs CLEAR end to end and keeps every stage's output in RUN_DIR (scored, kept, "
                    "dropped, model_filtered/, candidates, corrected, model_corrected/, eval_*.json, "
                    "summary.json). Killed at any moment, the same command resumes from the last "
                    "finished stage (state.json) and row (the call cache in RUN_DIR).",
    )
    p.add_argument("input", help="the noisy fine-tuning data")
    p.add_argument("--test", default=None, help="held-out test set; without it nothing is evaluated")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="the run directory")
    add_seed_arg(p)
    p.add_argument("--iterations", action=PositiveInt, default=1, help="rounds of correct + fine-tune (1)")
    p.add_argument("--baseline-full", action="store_true",
                   help="also fine-tune on the full noisy data, for comparison")
    p.add_argument("--dry-run", action="store_true", help="print the plan and a cost estimate, then stop")
    add_no_progress_arg(p)
    g = p.add_argument_group("score and filter")
    g.add_argument("--method", default=None, help="scoring method (see `clearft score --help`; auto)")
    g.add_argument("--preset", default=None, help="scoring preset: base, low, medium, high, best")
    g.add_argument("--fraction", action=UnitInterval, default=None, help="drop this fraction, lowest first (0.5)")
    g.add_argument("--threshold", action=UnitInterval, default=None, help="drop rows with confidence below this")
    g.add_argument("--auto-threshold", action="store_true", help="let the filter choose the cut")
    g.add_argument("--cross-fit", action=FoldCount, default=0, metavar="K",
                   help="score each row by a model fine-tuned on the other K-1 folds (RUN_DIR/crossfit/); "
                        "the fold models also write candidates for kept rows (see `clearft score --help`)")
    add_cross_fit_options(g)
    add_score_options(g)  # as `clearft score` takes them
    g = p.add_argument_group("fine-tune")
    for flag, kind, text in FINETUNE_FLAGS:
        add_hyperparameter(g, flag, kind, text)
    g.add_argument("--gradient-checkpointing", action="store_true", help=GRADIENT_CHECKPOINTING_HELP)
    g.add_argument("--group-by-length", action="store_true", help=GROUP_BY_LENGTH_HELP)
    g.add_argument("--finetune-set", action="append", default=[], metavar="KEY=JSON",
                   help="any other FinetuneConfig field, e.g. --finetune-set lora_dropout=0.1")
    g.add_argument("--finetune-command", default=None,
                   help="external trainer instead of the built-in one, e.g. "
                        "\"mytrain --data {data} --out {output}\"")
    g.add_argument("--base-model", default=None,
                   help="fine-tune this model instead of the one being curated: a GGUF file or Hugging Face "
                        "folder (default: --model, the model that scores and judges; the embedded model "
                        "without --model). Needed with --backend openai, whose models cannot be "
                        "fine-tuned here")
    g = p.add_argument_group("correct")
    g.add_argument("--candidate-backend", default="transformers",
                   help="backend serving the fine-tuned models for candidates (transformers)")
    add_correct_all_arg(g)
    add_judge_args(p)
    g = p.add_argument_group("evaluate")
    g.add_argument("--metric", default="auto", help=METRIC_HELP)
    add_eval_limit_arg(g)
    g.add_argument("--eval-backend", default=None, help="backend for fine-tuned models (auto)")
    g.add_argument("--no-eval-untuned", action="store_true", help="skip evaluating the untuned model")
    g = p.add_argument_group("review")
    g.add_argument("--review", default=None, metavar="DECISIONS",
                   help="continue a run with a reviewer's decisions (from `clearft review`; JSONL, Label "
                        "Studio or Argilla export): apply them to the run's latest training set "
                        "(RUN_DIR/train_reviewed), fine-tune again (model_reviewed/) and evaluate; "
                        "finished stages are not redone")
    add_data_args(p)
    add_backend_args(p)
    add_engine_args(p)
    enable_config_file(p)  # --config FILE, --print-config: after every option it may set
    p.set_defaults(func=run)


def finetune_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from clearft.cli.common import key_json_settings
    from clearft.cli.finetune_cmd import hyperparameter_values, split_target_modules

    values = hyperparameter_values(args, skip=RUN_OWN)
    if args.gradient_checkpointing:
        values["gradient_checkpointing"] = True
    if args.group_by_length:
        values["group_by_length"] = True
    values.update(key_json_settings(args.finetune_set, "--finetune-set"))
    split_target_modules(values)
    from clearft.training.config import FinetuneConfig

    FinetuneConfig.from_dict(values)  # an unknown or out-of-range setting fails now, not mid-run
    return values


def build_config(args: argparse.Namespace) -> Any:
    from clearft.cli.common import backend_options, data_options
    from clearft.cli.correct_cmd import correct_config
    from clearft.cli.score_cmd import cross_fit_overrides, score_overrides
    from clearft.pipeline import RunConfig
    from clearft.scoring.crossfit.config import split_parts

    return RunConfig(
        seed=args.seed, backend=args.backend, backend_options=backend_options(args),
        candidate_backend=args.candidate_backend, eval_backend=args.eval_backend, cache=args.cache,
        data_options=data_options(args),
        method=args.method, preset=args.preset, score_options=score_overrides(args),
        fraction=args.fraction, threshold=args.threshold,
        auto_threshold=args.auto_threshold, finetune=finetune_overrides(args),
        cross_fit=args.cross_fit, cross_fit_parts=list(split_parts(args.cross_fit_parts)),
        cross_fit_options=cross_fit_overrides(args),
        finetune_command=args.finetune_command, base_model=args.base_model,
        correct=correct_config(args, seed=args.seed), correct_all=args.correct_all,
        iterations=args.iterations, baseline_full=args.baseline_full,
        eval_untuned=not args.no_eval_untuned, eval_limit=args.eval_limit, metric=args.metric,
        progress=not args.no_progress, review=args.review,
    )


class _ModelUnavailable(Exception):
    """The scoring model could not be opened for the estimate (the plan then guesses)."""


def score_estimate(args: argparse.Namespace, config: Any) -> dict[str, Any] | None:
    """The scorer's own dry run (exact request counts); None if it cannot tell because the
    model cannot be opened here. Any other error (a method the backend cannot serve, bad
    data) is the user's to fix, and is raised as `clearft score` would."""
    from pathlib import Path

    from clearft.backends.cache import open_backend
    from clearft.errors import ClearftError
    from clearft.pipeline.toolkit import run_crossfit_config, run_score_config
    from clearft.scoring import score_file

    try:
        sc = run_score_config(config)
        if config.cross_fit:
            from clearft.scoring.crossfit import crossfit_score_file

            est, _ = crossfit_score_file(args.input, str(Path(args.output) / "scored.dry-run"),
                                         run_crossfit_config(config), sc, dry_run=True,
                                         data_options=config.data_options)
            return {"method": "crossfit", "estimate": est}

        def open_model() -> Any:
            try:
                return open_backend(config.backend, cache="off", **config.backend_options)
            except ClearftError as exc:
                raise _ModelUnavailable(str(exc)) from exc

        summary = score_file(args.input, str(Path(args.output) / "scored.dry-run"), open_model,
                             sc, dry_run=True, progress=False, log=lambda _m: None,
                             data_options=config.data_options)
    except _ModelUnavailable:
        return None
    return summary.to_dict()


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from clearft.cli.config_file import config_yaml, save_config
    from clearft.pipeline import format_plan, plan_run, run_pipeline, summary_table
    from clearft.pipeline.state import STATE_FILE

    if args.print_config:
        print(config_yaml(args), end="")
        return 0
    config = build_config(args)
    if config.cross_fit or not config.finetune_command:
        from clearft.pipeline.toolkit import check_finetune_base

        check_finetune_base(config)  # a model that cannot be fine-tuned here: said before anything runs
    if args.dry_run:
        plan = plan_run(Path(args.input), Path(args.test) if args.test else None, config,
                        score_estimate=score_estimate(args, config))
        print(format_plan(plan))
        return 0
    from clearft.pipeline.engine_toolkit import engine_toolkit

    # RUN_DIR/config.yaml: the effective options. A fresh run gets it before it starts (a
    # killed run keeps it); a resumed one once the run dir has accepted its settings.
    resuming = (Path(args.output) / STATE_FILE).exists()
    if not resuming:
        save_config(args, args.output)
    # --engine ray: score (with --cross-fit, its fold fine-tunes too), candidates, judge and
    # evaluation run on Ray; the loop's own fine-tunes run here.
    summary = run_pipeline(args.input, args.test, args.output, config, toolkit=engine_toolkit(args),
                           log=lambda m: print(m, file=sys.stderr))
    if resuming:
        save_config(args, args.output)
    print(summary_table(summary))
    print(f"\nEverything is in {args.output} (summary.json, config.yaml).")
    return 0
