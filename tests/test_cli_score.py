"""`clearft score` and `clearft filter` from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clearft.cli.main import main
from clearft.scoring import bsdetector, make_config


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("command", ["score", "filter"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--output" in out
    assert ("--method" in out and "--dry-run" in out) if command == "score" else "--fraction" in out


def _data(path: Path) -> Path:
    # The fake backend echoes the prompt, so a sample's "answer" is the template's own
    # "[provide your answer]": rows whose target says that are consistent, the others not.
    rows = [{"prompt": f"What is {i}+{i}?", "response": "provide your answer" if i % 2 else f"The sum is {2 * i}."}
            for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_score_then_filter_with_fake_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _data(tmp_path / "in.jsonl")
    rc = main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--backend", "fake", "--method", "bsdetector",
               "--similarity", "token-f1", "--no-progress"])
    assert rc == 0
    scored = _read(tmp_path / "s.jsonl")
    assert len(scored) == 6 and all(r["confidence"] is not None for r in scored)
    assert "scored 6 of 6 rows" in capsys.readouterr().err
    rc = main(["filter", str(tmp_path / "s.jsonl"), "-o", str(tmp_path / "kept.jsonl"), "--fraction", "0.5"])
    assert rc == 0
    kept, dropped = _read(tmp_path / "kept.jsonl"), _read(tmp_path / "kept.dropped.jsonl")
    assert len(kept) + len(dropped) == 6 and len(dropped) == 3
    assert all(d["clearft_drop_reason"].startswith("low confidence") for d in dropped)
    assert "dropped for low confidence: 3" in capsys.readouterr().err


def test_score_dry_run_prints_the_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _data(tmp_path / "in.jsonl")
    rc = main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--backend", "fake", "--method", "bsdetector",
               "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0 and "18 requests" in out and "tokens" in out
    assert not (tmp_path / "s.jsonl").exists()


def test_score_reports_bad_options_as_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _data(tmp_path / "in.jsonl")
    assert main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--method", "vibes"]) == 1
    assert "unknown scoring method" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # out of range: refused when parsed (exit code 2)
        main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--backend", "fake",
              "--method", "perplexity", "--alpha", "2"])
    assert exc.value.code == 2
    assert "argument --alpha: must be between 0 and 1" in capsys.readouterr().err
    assert main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--backend", "fake",
                 "--compare", "vibes"]) == 1
    assert "unknown compare 'vibes'" in capsys.readouterr().err


def _fpb_slice(shared_data: Path, path: Path, n: int) -> Path:
    with (shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_score_and_filter_for_real(shared_data: Path, tmp_path: Path) -> None:
    """The default model scores 8 FPB rows with BSDetector (short answers keep it quick)."""
    src = _fpb_slice(shared_data, tmp_path / "fpb.csv", 8)
    out = tmp_path / "scored.jsonl"
    rc = main(["score", str(src), "-o", str(out), "--method", "bsdetector", "--preset", "low",
               "--max-tokens", "16", "--cache", str(tmp_path / "cache.sqlite"), "--no-progress"])
    assert rc == 0
    scored = _read(out)
    assert len(scored) == 8
    for r in scored:
        assert r["clearft_error"] is None
        ev = r["clearft_evidence"]
        # BSDetector's C = beta * O + (1 - beta) * S of the parts the row records (preset low's beta)
        assert r["confidence"] == pytest.approx(bsdetector.combine(r["consistency"], r["self_reflection"],
                                                                   make_config("low").beta))
        assert len(ev["samples"]) == 3 and len(ev["reflections"]) == 1
        assert ev["reflections"][0]["verdict"] in ("A", "B", "C", "unknown")
    meta = json.loads((tmp_path / "scored.jsonl.meta.json").read_text())
    assert meta["backend"]["backend"] in ("llamacpp", "cached")
    rc = main(["filter", str(out), "-o", str(tmp_path / "kept.jsonl")])
    assert rc == 0
    assert len(_read(tmp_path / "kept.jsonl")) + len(_read(tmp_path / "kept.dropped.jsonl")) == 8


@pytest.mark.slow
def test_embedding_classifier_for_real(shared_data: Path, tmp_path: Path) -> None:
    """auto picks embedding-classifier on label data; the real embedding model scores 60 rows."""
    src = _fpb_slice(shared_data, tmp_path / "fpb.csv", 60)
    out = tmp_path / "scored.csv"
    assert main(["score", str(src), "-o", str(out), "--no-progress"]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60 and {r["clearft_method"] for r in rows} == {"embedding-classifier"}
    for r in rows:  # the confidence is the out-of-fold probability of the given label
        ev = json.loads(r["clearft_evidence"])
        confidence, top = float(r["confidence"]), ev["predicted_prob"]
        if ev["predicted_label"] == ev["given_label"]:
            assert confidence == pytest.approx(top)
        else:
            assert confidence <= top + 1e-9
