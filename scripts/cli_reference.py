"""Writes docs/cli.md, the command-line reference, from clearft's argparse parsers, so the
reference cannot drift from the code.

    python scripts/cli_reference.py           # (re)write docs/cli.md
    python scripts/cli_reference.py --check   # exit 1 if docs/cli.md is out of date

The output does not depend on the terminal: every parser is formatted at a fixed width."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "cli.md"
WIDTH = 100
REGENERATE = "python scripts/cli_reference.py"


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=WIDTH, max_help_position=32)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each subcommand, in --help order."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue  # an alias
                seen.add(id(sub))
                out.append((name, sub, helps.get(name, "")))
    return out


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    fmt = _formatter(parser.prog)
    lines = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        lines += [f"**{group.title}**", ""]
        if group.description:
            lines += [_md(group.description), ""]
        for action in actions:
            invocation = fmt._format_action_invocation(action)
            help_text = _md(fmt._expand_help(action)) if action.help else ""
            lines.append(f"- `{invocation}`" + (f": {help_text}" if help_text else ""))
        lines.append("")
    return lines


def _section(name: str, parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    parser.formatter_class = _formatter
    lines = [f"{'#' * level} `{name}`", ""]
    if summary:
        lines += [_md(summary), ""]
    if parser.description and _md(parser.description) != _md(summary):
        lines += [_md(parser.description), ""]
    lines += ["```", parser.format_usage().strip(), "```", ""]
    lines += _options(parser)
    if parser.epilog:
        lines += [_md(parser.epilog), ""]
    for sub_name, sub, sub_help in _subcommands(parser):
        lines += _section(f"{name} {sub_name}", sub, sub_help, level + 1)
    return lines


def render() -> str:
    from clearft.cli.main import build_parser

    parser = build_parser()
    commands = _subcommands(parser)
    lines = [
        "# Command-line reference",
        "",
        f"Generated from the argparse parsers by `{REGENERATE}`; do not edit by hand "
        "(`tests/test_docs_cli_reference.py` fails when this file is out of date).",
        "",
        "Commands: " + ", ".join(f"[`{n}`](#clearft-{n})" for n, _, _ in commands) + ".",
        "",
    ]
    lines += _section("clearft", parser, "", 2)
    # Subcommands one level below the top: renumber so each command is a "##" section.
    text = "\n".join(lines)
    text = text.replace("\n### `clearft ", "\n## `clearft ").replace("\n#### `clearft ", "\n### `clearft ")
    return text.rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"docs/cli.md is out of date with the CLI parsers; regenerate it with `{REGENERATE}`")
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
