"""`clearft` entry point. Each command lives in its own module under clearft.cli with two
functions: ``add_parser(subparsers)`` and ``run(args) -> int``. Command modules import only
argparse-level things at module scope; the work (and heavy imports) happens inside run."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from clearft import __version__
from clearft.deps import quiet_third_party
from clearft.errors import ClearftError

# Order = order in --help.
COMMANDS = [
    "score",
    "filter",
    "correct",
    "finetune",
    "eval",
    "run",
    "report",
    "review",
    "apply",
    "export",
    "generate",
    "backends",
    "version",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearft",
        allow_abbrev=False,  # --lr is not --lr-scheduler: a flag is spelled out or refused
        description=(
            "Find, filter and fix bad targets in LLM fine-tuning data (CLEAR: "
            "confidence-based LLM evaluation and rectification)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"clearft {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the progress bars and warnings of the libraries clearft drives")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"clearft.cli.{name}_cmd"
        if importlib.util.find_spec(module_name) is None:
            continue  # a command still being built
        importlib.import_module(module_name).add_parser(sub)
    for command_parser in [parser, *sub.choices.values()]:
        setattr(command_parser, "error", _one_line_error(command_parser))  # noqa: B010
        command_parser.allow_abbrev = False
    return parser


def _one_line_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    """A command's usage errors (a bad option value, a missing argument) as one line, like
    every other clearft error, instead of argparse's usage block before it; exit code 2."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    return error


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser, by name."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from clearft.cli.common import check_choices, check_ranges

    command_parser = command_parsers(parser)[args.command]
    check_ranges(command_parser, args)  # values a --config file gave
    check_choices(command_parser, args)  # backend, metric and scheduler names
    if not args.verbose:
        quiet_third_party()
    try:
        return int(args.func(args) or 0)
    except ClearftError as exc:
        print(f"clearft {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"clearft {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
