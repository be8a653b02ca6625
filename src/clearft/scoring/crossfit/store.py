"""What a cross-fit leaves in its work folder: each fold's scores with the fingerprint of
what produced them (reused when it matches), and folds.json (row id -> fold model)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from clearft.data.example import Example
from clearft.errors import ClearftError
from clearft.scoring.config import ScoreConfig
from clearft.scoring.crossfit.config import FOLD_PARTS, FOLDS_FILE, CrossFitConfig
from clearft.scoring.crossfit.folds import fold_dir
from clearft.scoring.result import ScoreResult


def scores_path(work_dir: Path, fold: int, folds: int) -> Path:
    return work_dir / f"fold-{fold + 1}-of-{folds}.scores.jsonl"


def fold_fingerprint(cf: CrossFitConfig, config: ScoreConfig, model_dir: Path, held_out: list[Example]) -> str:
    # Only what the fold model computes: adding embedding-classifier reuses finished folds.
    done = model_dir / "DONE"
    blob = json.dumps({
        "crossfit": {**cf.to_dict(), "parts": [p for p in cf.parts if p in FOLD_PARTS]},
        "score": {k: v for k, v in config.to_dict().items() if k != "batch_size"},
        "model": done.read_text().strip() if done.is_file() else str(model_dir),
        "rows": [[ex.id, ex.response] for ex in held_out],
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_fold_scores(path: Path, fp: str) -> list[ScoreResult] | None:
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or json.loads(lines[0]).get("fingerprint") != fp:
        return None
    return [ScoreResult.from_columns(json.loads(line)) for line in lines[1:]]


def save_fold_scores(path: Path, fp: str, results: list[ScoreResult]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"fingerprint": fp}) + "\n")
        for r in results:
            f.write(json.dumps(r.columns(), ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def write_folds(work: Path, examples: list[Example], folds: list[int], k: int) -> None:
    data = {"folds": k, "model_dirs": [fold_dir(work, f, k).name for f in range(k)],
            "fold_of": {ex.id: f for ex, f in zip(examples, folds, strict=True)}}
    tmp = work / (FOLDS_FILE + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, work / FOLDS_FILE)


def read_folds(work_dir: str | Path) -> tuple[dict[str, Path], int]:
    """(row id -> its fold model folder, K) of a finished cross-fit, for Auto-Correct."""
    work = Path(work_dir)
    path = work / FOLDS_FILE
    if not path.is_file():
        raise ClearftError(f"{work} holds no cross-fit ({FOLDS_FILE} missing)")
    data = json.loads(path.read_text(encoding="utf-8"))
    dirs = [work / name for name in data["model_dirs"]]
    return {rid: dirs[f] for rid, f in data["fold_of"].items()}, int(data["folds"])
