"""Auto-Filter: thresholds, side file with reasons, counts per reason."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from clearft.errors import ClearftError, DataError
from clearft.filtering import (
    choose_threshold,
    decide,
    filter_file,
    fraction_threshold,
    mixture_threshold,
    otsu_threshold,
)


def test_otsu_cuts_in_the_gap_between_two_modes() -> None:
    scores = [0.05, 0.1, 0.12, 0.08, 0.85, 0.9, 0.95, 0.88, 0.92, 0.9]
    cut = otsu_threshold(scores)
    assert 0.12 < cut < 0.85


def test_otsu_of_constant_scores_drops_nothing() -> None:
    assert otsu_threshold([0.5, 0.5, 0.5]) == -math.inf
    assert otsu_threshold([0.3]) == -math.inf


def test_fraction_threshold_drops_that_share() -> None:
    scores = [i / 10 for i in range(10)]
    cut = fraction_threshold(scores, 0.5)
    assert sum(s < cut for s in scores) == 5
    assert fraction_threshold(scores, 0.0) == -math.inf
    assert sum(s < fraction_threshold(scores, 1.0) for s in scores) == 10
    with pytest.raises(ClearftError):
        fraction_threshold(scores, 1.5)


def test_choose_threshold_precedence() -> None:
    scores = [0.1, 0.2, 0.9]
    assert choose_threshold(scores, threshold=0.15, fraction=0.9)[0] == 0.15
    cut, how = choose_threshold(scores, fraction=1 / 3)
    assert 0.1 < cut < 0.2 and "33%" in how
    assert "median" in choose_threshold(scores, rule="median")[1]
    assert "Otsu" in choose_threshold(scores, rule="otsu")[1]
    assert "mixture" in choose_threshold(scores)[1]


def test_mixture_cut_follows_the_size_of_the_low_group() -> None:
    import random

    rng = random.Random(0)
    scores = [min(1.0, max(0.0, rng.gauss(0.1, 0.05))) for _ in range(20)]
    scores += [min(1.0, max(0.0, rng.gauss(0.7, 0.15))) for _ in range(80)]
    cut = mixture_threshold(scores)
    dropped = sum(s < cut for s in scores)
    assert 15 <= dropped <= 25  # about the 20 low rows, not half
    assert mixture_threshold([0.4] * 10) == -math.inf


def test_decide_reasons_include_failed_rows() -> None:
    records = [
        {"confidence": 0.9}, {"confidence": 0.1}, {"confidence": None, "clearft_error": "model call failed"},
        {"confidence": "0.8"},  # CSV stores text
    ]
    decisions, cut, _ = decide(records, threshold=0.5)
    assert [keep for keep, _ in decisions] == [True, False, False, True]
    assert decisions[1][1].startswith("low confidence")
    assert decisions[2][1] == "scoring failed: model call failed"
    kept_failed, _, _ = decide(records, threshold=0.5, keep_failed=True)
    assert kept_failed[2] == (True, None)


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_filter_file_writes_kept_and_dropped_with_reasons(tmp_path: Path) -> None:
    rows = [{"id": str(i), "prompt": f"p{i}", "response": "r", "confidence": c, "clearft_error": None}
            for i, c in enumerate([0.9, 0.2, 0.8, 0.1])]
    rows.append({"id": "x", "prompt": "p", "response": "r", "confidence": None, "clearft_error": "boom"})
    scored = tmp_path / "scored.jsonl"
    _write(scored, rows)
    summary = filter_file(scored, tmp_path / "kept.jsonl", fraction=0.5)
    kept = _read(tmp_path / "kept.jsonl")
    dropped = _read(tmp_path / "kept.dropped.jsonl")
    assert [r["id"] for r in kept] == ["0", "2"]
    assert [r["id"] for r in dropped] == ["1", "3", "x"]
    assert all(r["clearft_keep"] is False for r in dropped)
    assert dropped[2]["clearft_drop_reason"] == "scoring failed: boom"
    assert summary.reasons == {"low confidence": 2, "scoring failed": 1}
    assert (summary.rows, summary.kept, summary.dropped) == (5, 2, 3)


def test_filter_file_needs_scores(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    _write(plain, [{"prompt": "p", "response": "r"}])
    with pytest.raises(DataError, match="clearft score"):
        filter_file(plain, tmp_path / "kept.jsonl")


def test_filter_file_custom_dropped_path_and_csv(tmp_path: Path) -> None:
    scored = tmp_path / "scored.csv"
    scored.write_text("prompt,response,confidence,clearft_error\np1,r,0.9,\np2,r,0.1,\n", encoding="utf-8")
    summary = filter_file(scored, tmp_path / "kept.csv", threshold=0.5, dropped_path=tmp_path / "bad.csv")
    assert summary.kept == 1 and summary.dropped == 1
    assert "p2" in (tmp_path / "bad.csv").read_text(encoding="utf-8")
    assert "p2" not in (tmp_path / "kept.csv").read_text(encoding="utf-8")
