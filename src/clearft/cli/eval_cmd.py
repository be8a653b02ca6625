"""`clearft eval MODEL [MODEL ...] --test TEST`: accuracy of each model on a held-out set,
with the metric the targets need, as a before/after table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from clearft.cli.common import (
    CACHE_HELP,
    MAX_TOKENS_HELP,
    PositiveInt,
    add_data_args,
    add_engine_args,
    add_hidden_alias,
    add_no_progress_arg,
    add_openai_url_args,
    data_options,
)

METRIC_HELP = "auto (default: from the targets), choice, gsm8k, number, json, label, text"


def add_eval_limit_arg(p: argparse.ArgumentParser | Any) -> None:
    """--eval-limit (eval and run); eval's old name --limit still works, unlisted."""
    p.add_argument("--eval-limit", action=PositiveInt, default=None, metavar="N",
                   help="evaluate only the first N test rows")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy of one or more models on a held-out test set")
    p.add_argument("models", nargs="+",
                   help="'default' (embedded GGUF, llamacpp), a model folder (transformers), a .gguf "
                        "file, or a model name with --backend openai")
    p.add_argument("--test", required=True, help="held-out test data (any format clearft reads)")
    p.add_argument("--metric", default="auto", help=METRIC_HELP)
    add_eval_limit_arg(p)
    add_hidden_alias(p, "--limit", "eval_limit", action=PositiveInt, default=None)
    p.add_argument("--max-tokens", action=PositiveInt, default=None, help=MAX_TOKENS_HELP)
    p.add_argument("--backend", default=None,
                   help="force a backend for every model (llamacpp, transformers, openai); "
                        "default: chosen from each MODEL")
    add_openai_url_args(p)
    p.add_argument("--cache", default=None, help=CACHE_HELP)
    p.add_argument("--out", default=None,
                   help="write per-row predictions here (JSONL); with several models, one file each "
                        "(MODEL index appended)")
    p.add_argument("--json", dest="json_out", default=None, help="write the summary as JSON here")
    add_no_progress_arg(p)
    add_engine_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.engines.options import command_engine
    from clearft.evaluation import evaluate, results_table
    from clearft.evaluation.runner import write_rows

    options = {k: v for k, v in {"base_url": args.base_url, "api_key_env": args.api_key_env}.items() if v}
    results = []
    with command_engine(args) as engines:  # --engine ray: one cluster for every model evaluated
        for i, model in enumerate(args.models):
            result = evaluate(model, args.test, backend=args.backend, metric=args.metric, limit=args.eval_limit,
                              max_tokens=args.max_tokens, cache=args.cache, backend_options=options,
                              progress=not args.no_progress, data_options=data_options(args),
                              engine=None if engines.local else engines.get())
            results.append(result)
            if args.out:
                out = Path(args.out)
                if len(args.models) > 1:
                    out = out.with_name(f"{out.stem}.{i}{out.suffix or '.jsonl'}")
                write_rows(out, result)
    print(results_table(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    return 0
