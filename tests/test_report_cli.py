"""`clearft report` on the command line: help, output, summary, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearft.cli.main import main

from .test_report_fixtures import run_dir, scored_file


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("RUN_OR_SCORED_FILE", "--output", "--threshold", "--page-size", "--title"):
        assert option in out


def test_report_of_a_scored_file_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scored_file(tmp_path, n=30, threshold=0.5)
    out_file = tmp_path / "out" / "report.html"
    assert main(["report", str(path), "-o", str(out_file)]) == 0
    assert out_file.is_file() and out_file.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    out = capsys.readouterr().out
    assert "rows                    30" in out
    assert "failed to score         1" in out
    below = sum(1 for i in range(30) if i != 3 and (i * 37 % 100) / 100 < 0.5)
    assert f"threshold               0.5 ({below} rows below)" in out
    assert f"wrote {out_file}" in out


def test_default_output_sits_beside_the_input(tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=5)
    assert main(["report", str(path)]) == 0
    assert (tmp_path / "scored.report.html").is_file()


def test_run_directory_summary_has_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = run_dir(tmp_path)
    assert main(["report", str(d)]) == 0
    out = capsys.readouterr().out
    assert "corrected" in out and "accuracy" in out
    assert "  filtered              0.620 (n=150)" in out
    assert (d / "report.html").is_file()


def test_two_files_print_their_agreement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = scored_file(tmp_path, n=20, name="a.jsonl", method="bsdetector")
    b = scored_file(tmp_path, n=20, name="b.jsonl", method="perplexity")
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "r.html")]) == 0
    assert "spearman                bsdetector vs perplexity: 1.000" in capsys.readouterr().out


def test_missing_input_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_bad_page_size_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scored_file(tmp_path, n=5)
    with pytest.raises(SystemExit) as exc:  # argparse refuses it: exit code 2, one line
        main(["report", str(path), "--page-size", "0"])
    assert exc.value.code == 2
    assert "argument --page-size: must be at least 1" in capsys.readouterr().err
