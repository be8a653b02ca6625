"""`clearft export DATA -o OUT --to FORMAT`: curated data in the format your trainer reads."""

from __future__ import annotations

import argparse

from clearft.cli.common import add_data_args, data_options

FORMAT_HELP = ("messages (TRL/Axolotl chat), openai (OpenAI fine-tuning JSONL), trl (TRL "
               "prompt/completion chat), prompt-completion (plain strings), alpaca, sharegpt")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write data in a trainer's format (TRL, OpenAI, Alpaca, ShareGPT)")
    p.add_argument("data", help="data to export (any format clearft reads; e.g. the kept or corrected file)")
    p.add_argument("-o", "--output", required=True, help="file to write (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--to", dest="to_format", default="messages", help=FORMAT_HELP)
    p.add_argument("--keep-id", action="store_true", help="add each row's id (not for openai)")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from clearft.training.export import export_examples

    # --file-type names the input here; output type is from -o
    dataset = replace(data_options(args), file_type=None).open(args.data)
    n = export_examples(dataset, args.output, args.to_format, include_id=args.keep_id)
    print(f"wrote {n} rows as {args.to_format} to {args.output}")
    return 0
