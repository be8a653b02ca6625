"""`clearft report`: one self-contained HTML file to decide, by looking, what to drop or fix."""

from __future__ import annotations

import argparse

from clearft.cli.common import PROMPT_COL_HELP, RESPONSE_COL_HELP, PositiveInt, UnitInterval


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run directory or scored file(s)",
        description=(
            "Write one HTML file (opens offline) showing the confidence distribution and threshold, "
            "how several methods agree, a sortable, searchable table of the examples with their "
            "evidence and corrections, and for a run the before/after accuracy and settings. "
            "Several scored files are joined by id; the first one leads."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_SCORED_FILE",
                   help="a `clearft run` directory, or one or more scored files (JSONL, JSON, CSV, Parquet)")
    p.add_argument("-o", "--output", default=None,
                   help="HTML file to write (default: RUN_DIR/report.html, or <stem>.report.html beside the file)")
    p.add_argument("--threshold", action=UnitInterval, default=None,
                   help="threshold to draw and count rows below (default: the one recorded by the filter or run)")
    p.add_argument("--page-size", action=PositiveInt, default=50, help="table rows per page (default 50)")
    p.add_argument("--title", default=None, help="page title (default: names the inputs)")
    p.add_argument("--prompt-col", default=None, help=PROMPT_COL_HELP)
    p.add_argument("--response-col", default=None, help=RESPONSE_COL_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.cli.common import data_options
    from clearft.report import build_report, summary_lines

    result = build_report(args.inputs, args.output, threshold=args.threshold,
                          page_size=args.page_size, title=args.title, data_options=data_options(args))
    for line in summary_lines(result.payload):
        print(line)
    print(f"wrote {result.path} ({result.bytes_written / 1e6:.1f} MB)")
    return 0
