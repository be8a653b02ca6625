"""clearft.curate: the whole loop of `clearft run` on in-memory data, with the fake backend by
name and a stand-in external trainer (no model is loaded or trained)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

import clearft
from clearft.errors import ClearftError

from .test_api_score import as_kind, as_rows

# Writes a "model" (a folder holding a .gguf) where the loop asks for one.
TRAINER = shlex.join([
    sys.executable, "-c",
    "import pathlib, sys; p = pathlib.Path(sys.argv[2]); p.mkdir(parents=True, exist_ok=True); "
    "(p / 'model.gguf').write_text('stand-in')",
]) + " {data} {output}"
ROWS = [{"prompt": f"q{i}", "response": "positive" if i % 3 else "negative"} for i in range(6)]
FAKE_LOOP = {"backend": "fake", "candidate_backend": "fake", "method": "perplexity",
             "finetune_command": TRAINER, "judge": "llm", "progress": False}


@pytest.mark.parametrize("kind", ["records", "pandas", "datasets"])
def test_curate_runs_the_loop_and_returns_the_training_set(tmp_path: Path, kind: str) -> None:
    run_dir = tmp_path / "run"
    curated, summary = clearft.curate(as_kind(ROWS, kind), run_dir=run_dir, fraction=0.5, log=lambda _m: None,
                                      return_summary=True, **FAKE_LOOP)
    assert type(curated) is type(as_kind(ROWS, kind))
    rows = as_rows(curated, kind)
    train = [json.loads(line) for line in (run_dir / "train_corrected.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["response"]) for r in rows] == [(r["prompt"], r["response"]) for r in train]
    assert len(rows) == 3 + summary["corrections"]["correct"]["replaced"]
    assert {"clearft_keep", "clearft_original_response", "clearft_correction"} <= set(rows[0])
    assert "_clearft_row" not in rows[0]
    assert list(summary["stages"]) == ["score", "filter", "finetune_filtered", "select", "candidates",
                                       "correct", "train_corrected", "finetune_corrected"]
    assert (run_dir / "summary.json").exists() and (run_dir / "model_corrected" / "model.gguf").exists()


def test_curate_resumes_in_its_run_dir_and_keeps_dataframe_labels(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(ROWS, index=list("abcdef"))
    logs: list[str] = []
    first = clearft.curate(frame, run_dir=tmp_path / "run", fraction=0.5, log=logs.append, **FAKE_LOOP)
    assert set(first.index) <= set("abcdef") and len(first) >= 3
    assert frame.loc[first.index, "prompt"].tolist() == first["prompt"].tolist()
    logs.clear()
    again = clearft.curate(frame, run_dir=tmp_path / "run", fraction=0.5, log=logs.append, **FAKE_LOOP)
    assert again.equals(first) and all("done already" in m for m in logs)
    other = frame.assign(response="negative")
    with pytest.raises(ClearftError, match="other settings"):  # other data is another run
        clearft.curate(other, run_dir=tmp_path / "run", fraction=0.5, log=logs.append, **FAKE_LOOP)


def test_curate_without_a_run_dir_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    curated = clearft.curate(ROWS, fraction=0.5, log=lambda _m: None, **FAKE_LOOP)
    assert isinstance(curated, list) and len(curated) >= 3
    assert list(tmp_path.iterdir()) == []


def test_curate_takes_backends_by_name_only() -> None:
    from clearft.backends.fake import FakeBackend

    with pytest.raises(ClearftError, match="by name"):
        clearft.curate(ROWS, backend=FakeBackend())  # type: ignore[arg-type]
    with pytest.raises(ClearftError, match="unknown scoring setting"):
        clearft.curate(ROWS, score_settings={"kk": 1}, **{k: v for k, v in FAKE_LOOP.items() if k != "progress"})
