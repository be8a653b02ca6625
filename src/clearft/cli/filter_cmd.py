"""`clearft filter`: keep the confidently good rows of a scored file (CLEAR Auto-Filter)."""

from __future__ import annotations

import argparse
import sys

from clearft.cli.common import FILE_TYPE_HELP, UnitInterval


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter", help="keep rows whose confidence clears a threshold; dropped rows go to a side file",
        description="Threshold: --threshold, else --fraction to drop, else automatic (--rule auto: "
                    "where a two-Gaussian mixture fitted to the scores tips from the low group to "
                    "the high one; otsu: Otsu's cut; median: drop the lower half as the paper did). "
                    "Rows that failed scoring are dropped unless --keep-failed.",
    )
    p.add_argument("scored", help="output of `clearft score`")
    p.add_argument("-o", "--output", required=True, help="where to write the kept rows")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", action=UnitInterval, default=None, help="drop rows with confidence below this")
    g.add_argument("--fraction", action=UnitInterval, default=None, help="drop this fraction of rows, lowest first (the paper: 0.5)")
    p.add_argument("--rule", choices=["auto", "otsu", "median"], default="auto",
                   help="the automatic threshold when neither --threshold nor --fraction is given")
    p.add_argument("--dropped", default=None, help="side file of dropped rows (default: <stem>.dropped.<ext> beside -o)")
    p.add_argument("--keep-failed", action="store_true", help="keep rows that failed scoring instead of dropping them")
    p.add_argument("--file-type", default=None, help=FILE_TYPE_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.filtering import filter_file

    summary = filter_file(args.scored, args.output, threshold=args.threshold, fraction=args.fraction,
                          rule=args.rule, dropped_path=args.dropped, keep_failed=args.keep_failed,
                          file_type=args.file_type)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0
