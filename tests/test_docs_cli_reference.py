"""docs/cli.md is generated from the CLI parsers (scripts/cli_reference.py) and must match them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cli_reference"] = module
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_up_to_date():
    script = _script()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == script.render(), (
        "docs/cli.md is out of date with the CLI parsers; regenerate it with "
        "`python scripts/cli_reference.py`"
    )


def test_every_subcommand_is_documented():
    from clearft.cli.main import COMMANDS, build_parser

    text = _script().render()
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert sub.choices, "no subcommands found"
    for name in sub.choices:
        assert f"## `clearft {name}`" in text, name
        assert f"usage: clearft {name}" in text, name
    assert set(sub.choices) <= set(COMMANDS)


def test_check_flag_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    script = _script()
    stale = tmp_path / "cli.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(script, "OUT", stale)
    assert script.main(["--check"]) == 1
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "python scripts/cli_reference.py" in out
    stale.write_text(script.render(), encoding="utf-8")
    assert script.main(["--check"]) == 0


def test_output_does_not_depend_on_the_terminal_width(monkeypatch):
    script = _script()
    monkeypatch.setenv("COLUMNS", "37")
    narrow = script.render()
    monkeypatch.setenv("COLUMNS", "250")
    assert script.render() == narrow
