"""`clearft apply`: merge a reviewer's decisions into the dataset, with an audit trail."""

from __future__ import annotations

import argparse
import sys

from clearft.cli.common import PROMPT_COL_HELP, RESPONSE_COL_HELP


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apply", help="merge review decisions (from `clearft review`, Label Studio or Argilla) into the dataset",
        description=(
            "Apply each decision (keep, replace, edit, drop) to the row with its id. A changed row keeps "
            "its earlier target in clearft_original_response; every decided row gets clearft_review "
            "(decision, reviewer, decided_at); dropped rows go to a side file. With a run directory as "
            "--data, the run's training set is the dataset and decided rows the run left out are added back."
        ),
    )
    p.add_argument("decisions", metavar="DECISIONS",
                   help="the decisions: the JSONL the review page downloaded (or `review --serve` wrote), or a "
                        "Label Studio or Argilla export of the queue with the annotations made there")
    p.add_argument("-o", "--output", required=True, help="where to write the dataset (file type from the suffix)")
    p.add_argument("--data", required=True, metavar="DATA_OR_RUN",
                   help="the dataset the decisions are about, or a `clearft run` directory")
    p.add_argument("--dropped", default=None,
                   help="side file of dropped rows (default: <stem>.dropped.<ext> beside -o)")
    # dest source_format: `from` is a Python keyword.
    p.add_argument("--from", dest="source_format", choices=["auto", "clearft", "label-studio", "argilla"],
                   default="auto",
                   help="what DECISIONS is: clearft's decisions JSONL, a Label Studio export (JSON tasks with "
                        "annotations), or Argilla records with responses (default auto: from the file)")
    p.add_argument("--prompt-col", default=None, help=PROMPT_COL_HELP)
    p.add_argument("--response-col", default=None, help=RESPONSE_COL_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.cli.common import data_options
    from clearft.review import apply_decisions

    summary = apply_decisions(args.decisions, args.data, args.output, dropped_path=args.dropped,
                              source=args.source_format, data_options=data_options(args))
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0
