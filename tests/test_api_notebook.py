"""examples/quickstart.ipynb runs from top to bottom.

nbformat/nbclient (and a Jupyter kernel) are not installed here, so the test executes the
notebook's code cells in order with exec, in one namespace, as a kernel would. The cell tagged
"parameters" (the backend) is replaced by a scripted fake backend that knows the right answers,
so the run takes a second and its outcome is known."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
TRUTH = {"2 + 2": "4", "3 + 5": "8", "capital of France": "Paris", "sky on a clear day": "Blue",
         "10 - 4": "6", "legs does a spider": "8"}
PARAMETERS = f"""
from clearft.backends.fake import FakeBackend

TRUTH = {TRUTH!r}

def knows_the_answer(req, i):
    text = req.messages[-1]["content"]
    answer = next(a for q, a in TRUTH.items() if q in text)
    return f"explanation: I know this, answer: {{answer}}"

BACKEND = FakeBackend(responder=knows_the_answer, logprobs=False)
"""


def code_cells() -> list[tuple[list[str], str]]:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    return [(c["metadata"].get("tags", []), "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]


def run_cell(source: str, namespace: dict) -> object:
    """exec a cell; like a kernel, evaluate a last bare expression and return its value."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, str(NOTEBOOK), "exec"), namespace)
    return None if last is None else eval(compile(ast.Expression(last.value), str(NOTEBOOK), "eval"), namespace)


def test_the_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pandas")
    monkeypatch.chdir(tmp_path)
    cells = code_cells()
    assert sum("parameters" in tags for tags, _ in cells) == 1
    namespace: dict = {}
    shown = [run_cell(PARAMETERS if "parameters" in tags else source, namespace) for tags, source in cells]
    scored, kept, dropped = namespace["scored"], namespace["kept"], namespace["dropped"]
    assert scored["confidence"].between(0, 1).all() and len(shown[2]) == 6  # the scored table
    assert sorted(dropped["response"]) == ["9", "Green"]  # the two wrong targets
    assert kept.index.tolist() == [0, 2, 4, 5]
    assert "clearft_drop_reason" in dropped.columns
