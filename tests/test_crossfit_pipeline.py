"""`clearft run --cross-fit K`: the score stage cross-fits, and Auto-Correct asks each kept
row's fold model (which never saw its target) for its candidate. Stub trainer, fake models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.fake import FakeBackend
from clearft.pipeline import RunConfig, Toolkit, format_plan, plan_run, run_pipeline
from clearft.scoring.crossfit import models as cfmod

from .test_crossfit import Lab, sentiment_rows, write_rows


def fake_finetune(data: Path, out_dir: Path, config: RunConfig) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def open_backend(name: str, cache: str | None = None, **options: Any) -> FakeBackend:
    model = Path(options.get("model", "base")).name
    return FakeBackend(responder=lambda req, i: f"answer from {model}", model=model)


def test_run_cross_fits_the_score_and_reuses_fold_models_for_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = Lab()
    monkeypatch.setattr(cfmod, "default_trainer", lambda *_a, **_k: lab.train)
    monkeypatch.setattr(cfmod, "default_opener", lambda *_a, **_k: lab.open)
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows())
    config = RunConfig(backend="fake", candidate_backend="fake", cross_fit=2, correct_all=True,
                       fraction=0.125, progress=False)
    toolkit = Toolkit(finetune=fake_finetune, open_backend=open_backend)
    run_dir = tmp_path / "run"
    run_pipeline(data, None, run_dir, config, toolkit=toolkit)

    scored = [json.loads(line) for line in (run_dir / "scored.jsonl").read_text().splitlines()]
    assert {r["clearft_method"] for r in scored} == {"crossfit"}
    dropped = {json.loads(line)["id"] for line in (run_dir / "dropped.jsonl").read_text().splitlines()}
    assert dropped == {"r1", "r6", "r11"}  # the mislabelled rows
    assert sorted(lab.trained) == ["fold-1-of-2", "fold-2-of-2"]
    assert (run_dir / "crossfit" / "folds.json").is_file()

    fold_of = json.loads((run_dir / "crossfit" / "folds.json").read_text())["fold_of"]
    cands = [json.loads(line) for line in (run_dir / "candidates.jsonl").read_text().splitlines()]
    for rec in cands:
        if rec["id"] in dropped:  # M1 never saw these; it answers them
            assert rec["clearft_candidate"] == "answer from model_filtered"
        else:  # M1 trained on these: their fold model answers
            assert rec["clearft_candidate"] == f"answer from fold-{fold_of[rec['id']] + 1}-of-2"


def test_run_dry_run_plans_the_fold_fine_tunes(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows(40))
    config = RunConfig(backend="fake", cross_fit=2, finetune={"batch_size": 4, "grad_accum": 1})
    plan = plan_run(data, None, config)
    assert plan[0].name == "score" and plan[0].train_steps == 10  # 2 folds x ceil(20 / 4)
    assert "2 fine-tunes" in format_plan(plan)
