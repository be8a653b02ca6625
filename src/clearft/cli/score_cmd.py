"""`clearft score`: confidence that each target is good, with the evidence behind it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clearft.cli.common import (
    MAX_TOKENS_HELP,
    FoldCount,
    NonNegativeInt,
    PositiveInt,
    UnitInterval,
    add_backend_args,
    add_data_args,
    add_engine_args,
    add_no_progress_arg,
    add_rows_per_call_arg,
    add_seed_arg,
)

if TYPE_CHECKING:
    from clearft.engines import Engine

METHOD_HELP = (
    "auto (default: embedding-classifier when targets are labels; on free text ifd with the llama.cpp "
    "backend, where it was measured on the quality-per-second frontier, else bsdetector), bsdetector, "
    "consistency, self-reflection, perplexity, ifd, judge-rating, embedding-classifier"
)

CROSS_FIT_PARTS_HELP = (
    "comma-separated: label-prob (the fold model's probability of the given target), bsdetector "
    "(consistency + self-reflection by the fold model), embedding-classifier (the embedding "
    "classifier's out-of-fold probability of the given label; label targets only, seconds) "
    "(default: label-prob,embedding-classifier)"
)


def add_score_options(g: argparse.ArgumentParser | Any) -> None:
    """How each row is scored, beyond --method and --preset: score's options, which `clearft
    run` takes too (one definition, so the two cannot drift); see score_overrides."""
    g.add_argument("--alpha", action=UnitInterval, default=None, help="weight of similarity vs exact match in consistency (0.8)")
    g.add_argument("--beta", action=UnitInterval, default=None, help="weight of consistency vs self-reflection (0.7)")
    g.add_argument("-k", "--samples", dest="k", action=NonNegativeInt, default=None, help="sampled answers per row (preset)")
    g.add_argument("--rounds", action=NonNegativeInt, default=None, help="self-reflection rounds (preset)")
    g.add_argument("--similarity", default=None, help="embedding (default), nli, exact, token-f1")
    g.add_argument("--compare", default=None,
                   help="what a sample is compared with the target by: auto (default: its whole reply "
                        "for targets over 20 words, else its answer), answer (the paper), reply")
    g.add_argument("--nli-model", default=None, help="folder of a Hugging Face NLI cross-encoder (for --similarity nli)")
    g.add_argument("--max-tokens", action=PositiveInt, default=None, help=MAX_TOKENS_HELP)
    g.add_argument("--no-logprobs", action="store_true",
                   help="sample reflection letters even where the backend gives log-probabilities")
    g.add_argument("--classifier", default=None, help="embedding-classifier: logreg (default) or knn")
    add_rows_per_call_arg(g)


def score_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ScoreConfig settings add_score_options' flags give (make_config's overrides; the
    ones not given are left out, so the preset decides)."""
    values = {
        "alpha": args.alpha, "beta": args.beta, "k": args.k, "rounds": args.rounds,
        "similarity": args.similarity, "compare": args.compare, "nli_model": args.nli_model,
        "sample_max_tokens": args.max_tokens, "classifier": args.classifier,
        "batch_size": args.batch_size, "use_logprobs": False if args.no_logprobs else None,
    }
    return {k: v for k, v in values.items() if v is not None}


def add_cross_fit_options(g: argparse.ArgumentParser | Any) -> None:
    """How cross-fit's parts are combined (score and run): see cross_fit_overrides."""
    g.add_argument("--cross-fit-parts", default="label-prob,embedding-classifier", help=CROSS_FIT_PARTS_HELP)
    g.add_argument("--cross-fit-weight", action=UnitInterval, default=None,
                   help="weight of label-prob; the other parts share the rest (0.5; measured in "
                        "bench/results/crossfit.md)")
    g.add_argument("--cross-fit-normalise-up-to", action=PositiveInt, default=None, metavar="N",
                   help="label-prob is the given label's share over all labels up to N labels "
                        "(default 20); above N, the given label's own probability (1 request a row)")


def cross_fit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """CrossFitConfig.from_options' keyword settings that add_cross_fit_options' flags give."""
    values = {"label_weight": args.cross_fit_weight, "max_normalised_labels": args.cross_fit_normalise_up_to}
    return {k: v for k, v in values.items() if v is not None}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score every example's target: confidence in [0, 1], low = likely bad",
        description="Write every input record plus id, confidence, consistency, self_reflection, "
                    "clearft_method, clearft_evidence and clearft_error. A killed run resumes "
                    "from <output>.partial.jsonl; settings go to <output>.meta.json.",
    )
    p.add_argument("input", help="the fine-tuning data (JSONL, JSON, CSV, Parquet or a datasets folder)")
    p.add_argument("-o", "--output", required=True, help="where to write the scored records")
    p.add_argument("--output-file-type", default=None,
                   help="file type of the output (default: from its suffix)")
    g = p.add_argument_group("scoring")
    g.add_argument("--method", default="auto", help=METHOD_HELP)
    g.add_argument("--preset", default="medium", help="base, low, medium (default), high, best: cheap to thorough")
    add_score_options(g)
    add_seed_arg(g)
    g.add_argument("--dry-run", action="store_true", help="print the model calls and tokens the run would take, then stop")
    g = p.add_argument_group("cross-fitting (score each row by a model that never saw it)")
    g.add_argument("--cross-fit", action=FoldCount, default=0, metavar="K",
                   help="split the rows into K folds (stratified by label), fine-tune a LoRA on K-1 folds and "
                        "score the held-out fold with it; fold models resume from OUTPUT.crossfit/; "
                        "with --engine ray each fold runs on a replica (--replicas folds at once)")
    add_cross_fit_options(g)
    g.add_argument("--cross-fit-dir", default=None, help="where fold models go (default OUTPUT.crossfit/)")
    g.add_argument("--cross-fit-set", action="append", default=[], metavar="KEY=JSON",
                   help="a fine-tuning setting of the fold models, e.g. --cross-fit-set max_steps=20 "
                        "(default: LoRA r=16, lr 1e-3, batch 16, one epoch, device auto)")
    add_no_progress_arg(g)
    add_data_args(p)
    add_backend_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.cli.common import backend_options, data_options
    from clearft.engines.options import command_engine
    from clearft.scoring import make_config, score_file

    config = make_config(args.preset, method=args.method, seed=args.seed, **score_overrides(args))

    def open_model():  # type: ignore[no-untyped-def]
        from clearft.backends.cache import open_backend

        return open_backend(args.backend, cache=args.cache, **backend_options(args))

    # Cross-fit settings are checked before an engine (a Ray cluster) starts.
    cross_fit = prepare_cross_fit(args, config) if args.cross_fit else None
    with command_engine(args) as engines:
        # --engine local: score here; a cross-fit dry run only estimates, on no engine.
        engine = None if engines.local or (args.cross_fit and args.dry_run) else engines.get()
        if cross_fit is not None:
            lines = cross_fit(engine)
        elif engine is not None:
            from clearft.engines.options import backend_spec
            from clearft.scoring import score_file_on_engine

            spec = backend_spec(args.backend, args.cache, backend_options(args))
            lines = score_file_on_engine(args.input, args.output, spec, config, engine,
                                         data_options=data_options(args), output_file_type=args.output_file_type,
                                         dry_run=args.dry_run, progress=not args.no_progress).lines()
        else:
            lines = score_file(args.input, args.output, open_model, config, data_options=data_options(args),
                               output_file_type=args.output_file_type, dry_run=args.dry_run,
                               progress=not args.no_progress).lines()
    for line in lines:
        print(line, file=sys.stdout if args.dry_run else sys.stderr)
    return 0


def prepare_cross_fit(args: argparse.Namespace, config: object) -> Callable[[Engine | None], list[str]]:
    """`score --cross-fit`, its settings checked now: a function that runs it on an engine
    (None: here, fold after fold) and returns the summary lines."""
    from clearft.cli.common import data_options, key_json_settings
    from clearft.engines.options import backend_spec
    from clearft.scoring.crossfit import CrossFitConfig, crossfit_score_file, models

    finetune: dict[str, object] = {"progress": not args.no_progress,
                                   **key_json_settings(args.cross_fit_set, "--cross-fit-set")}
    from clearft.training.config import FinetuneConfig

    FinetuneConfig.from_dict(finetune)  # an unknown or out-of-range setting fails now, not per fold
    cf = CrossFitConfig.from_options(args.cross_fit, args.cross_fit_parts, seed=args.seed or 0, finetune=finetune,
                                     **cross_fit_overrides(args))
    # The fold models are fine-tuned from the model being scored (--model; the embedded one by
    # default); an API model cannot be, which is said here, before anything runs.
    from pathlib import Path

    from clearft.training.base_model import finetune_base

    base = finetune_base(args.backend, args.model, remedy=(
        "--cross-fit fine-tunes its fold models from the scored model, so score a local one "
        "(--backend llamacpp or transformers with --model a GGUF file or Hugging Face folder), "
        "or score without --cross-fit"))
    if base and Path(base).exists():
        base = str(Path(base).resolve())  # replicas may not share our directory
    # Fold models are served by the backend asked for, unless it is the default (llama.cpp
    # serves the GGUF finetune writes; transformers the merged folder otherwise).
    backend = args.backend if args.backend != "llamacpp" else None

    def run_on(engine: Engine | None) -> list[str]:
        # With an engine, each fold (fine-tune + scoring) runs on a replica: --replicas folds
        # side by side.
        _, lines = crossfit_score_file(
            args.input, args.output, cf, config, work_dir=args.cross_fit_dir,  # type: ignore[arg-type]
            # an absolute cache path: the same file for replicas started elsewhere
            train=models.default_trainer(finetune, base),
            open_model=models.default_opener(backend, backend_spec(backend, args.cache, {}).cache),
            output_file_type=args.output_file_type, dry_run=args.dry_run,
            log=lambda m: print(m, file=sys.stderr), engine=engine, data_options=data_options(args),
        )
        return lines

    return run_on
