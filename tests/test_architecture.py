"""The import contracts of pyproject.toml ([tool.importlinter]: layers that point one way, no
import cycles) hold. scripts/test.sh runs `lint-imports` too; this brings a broken layer to
whoever runs only the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    pytest.importorskip("importlinter", reason="pip install -e '.[dev]' (import-linter)")
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
