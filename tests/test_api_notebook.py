"""examples/quickstart.ipynb runs from top to bottom in a real Jupyter kernel (nbclient +
ipykernel, as `jupyter nbconvert --execute` would run it).

The cell tagged "parameters" (the backend) is replaced, papermill-style, by a scripted fake
backend that knows the right answers, so the run takes seconds and its outcome is known. A
last cell, added here, prints what the test checks as JSON from inside the kernel."""

from __future__ import annotations

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
REPORT = """
import json
print(json.dumps({
    "confidence_in_range": bool(scored["confidence"].between(0, 1).all()),
    "scored_rows": len(scored),
    "dropped": sorted(dropped["response"]),
    "kept_index": kept.index.tolist(),
    "drop_reason_column": "clearft_drop_reason" in dropped.columns,
}))
"""


def test_the_quickstart_notebook_runs_in_a_kernel(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("pandas")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    parameters[0].source = PARAMETERS
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    # Run where the notebook would write its files: a fresh folder, not the repository.
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in code:  # every cell ran (an error would have raised CellExecutionError above)
        assert cell.execution_count is not None
    tables = [c for c in code if any("text/html" in o.get("data", {}) for o in c.outputs)]
    assert len(tables) >= 4  # df, the scored table, dropped, kept: shown as a notebook shows them
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    checks = json.loads(printed.strip().splitlines()[-1])
    assert checks == {"confidence_in_range": True, "scored_rows": 6, "dropped": ["9", "Green"],
                      "kept_index": [0, 2, 4, 5], "drop_reason_column": True}
