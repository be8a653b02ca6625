"""Bad input (issue 7): every file of the malformed-input corpus (tests/fixtures/bad_inputs,
described in its manifest.json) through `clearft score --backend fake`, in both error modes;
then a property-based round trip of the readers and writers in every file type.

Without --on-error skip, a bad record stops the run with an error naming the file, line and
field; with skip, it goes with its reason to the rejects file and the rest is scored. Never a
traceback, never a row that is neither scored nor rejected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearft.cli.main import main
from clearft.data.readers import BadRow, read_items
from clearft.data.writers import write_records

CORPUS = Path(__file__).parent / "fixtures" / "bad_inputs"
MANIFEST: dict[str, dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
# Self-reflection, one round: the cheapest method that still asks the (fake) model.
SCORE = ["--backend", "fake", "--method", "self-reflection", "--preset", "base", "--no-progress",
         "--cache", "off"]


def test_the_corpus_covers_every_format_and_problem():
    assert len(MANIFEST) >= 50
    suffixes = {Path(name).suffix for name in MANIFEST}
    assert {".jsonl", ".json", ".csv", ".parquet"} <= suffixes
    assert all((CORPUS / name).is_file() for name in MANIFEST)


def score(name: str, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    case = MANIFEST[name]
    out = tmp_path / f"{mode}.jsonl"
    try:
        code = main(["score", str(CORPUS / name), "-o", str(out), "--on-error", mode, *SCORE,
                     *case.get("args", [])])
    except Exception as exc:  # what the installed command would show as a traceback
        pytest.fail(f"{name} ({mode}): uncaught {type(exc).__name__}: {exc}")
    return code, capsys.readouterr().err, out


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_names_the_place(err: str, name: str, case: dict[str, Any]) -> None:
    assert "Traceback" not in err
    assert f"{name}" in err and "error:" in err, err
    if case["line"] is not None:
        assert f"line {case['line']}" in err, err
    if case["field"] is not None:
        assert f"field '{case['field']}'" in err, err


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_without_skip_a_bad_input_stops_with_file_line_and_field(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    case = MANIFEST[name]
    code, err, out = score(name, "raise", tmp_path, capsys)
    if case["kind"] in ("record", "file"):
        assert code == 1
        assert_names_the_place(err, name, case)
        assert not out.exists(), "a failed run must not leave an output behind"
    else:
        assert code == 0, err
        assert len(rows_of(out)) == case["total"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_with_skip_every_row_is_scored_or_rejected_with_its_reason(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    case = MANIFEST[name]
    code, err, out = score(name, "skip", tmp_path, capsys)
    assert "Traceback" not in err
    if case["kind"] == "file":  # nothing to skip to: the file as a whole is unusable
        assert code == 1
        assert_names_the_place(err, name, case)
        return
    assert code == 0, err
    kept = rows_of(out)
    rejects_file = tmp_path / f"{Path(name).stem}.rejected.jsonl"
    rejected = rows_of(rejects_file) if rejects_file.exists() else []
    assert len(kept) + len(rejected) == case["total"]
    assert len(rejected) == case["rejected"]
    for entry in rejected:
        assert entry["reason"] and entry["line"] >= 1
    if rejected:
        assert rejected[0]["line"] == case["line"] and rejected[0]["field"] == case["field"]
        assert f"rejected {len(rejected)} bad input records" in err
    if case["kind"] == "error_record":
        errors = [r["clearft_error"] for r in kept if r["clearft_error"] and "context" in r["clearft_error"]]
        assert len(errors) == case["failed"], [r["clearft_error"] for r in kept]


@pytest.mark.parametrize("name", ["jsonl_deep_nesting.jsonl", "csv_ragged_extra.csv",
                                  "parquet_wrong_schema.parquet", "jsonl_lone_surrogate.jsonl"])
def test_the_installed_command_shows_no_traceback(name, tmp_path):
    """The same through a real process: exit status and stderr as a user sees them."""
    proc = subprocess.run([sys.executable, "-m", "clearft.cli.main", "score", str(CORPUS / name),
                           "-o", str(tmp_path / "out.jsonl"), *SCORE], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and name in proc.stderr


# ---------------------------------------------------------------- readers and writers


TEXT = st.text(max_size=60)  # any characters a str can hold and UTF-8 can write
COLUMN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)


@st.composite
def text_records(draw: Any) -> list[dict[str, str]]:
    columns = draw(st.lists(COLUMN, min_size=1, max_size=3, unique=True))
    rows = draw(st.lists(st.fixed_dictionaries({c: TEXT for c in columns}), min_size=1, max_size=6))
    return rows


def read_back(path: Path, file_type: str) -> list[Any]:
    items = list(read_items(path, file_type))
    assert not [i for i in items if isinstance(i, BadRow)], items
    return [i.record for i in items]


@pytest.mark.parametrize("file_type", ["jsonl", "json", "csv", "parquet"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=text_records())
def test_any_text_records_round_trip(file_type, records, tmp_path):
    path = tmp_path / f"data.{file_type}"
    assert write_records(path, records) == len(records)
    assert read_back(path, file_type) == records


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=text_records())
def test_any_text_records_round_trip_through_a_datasets_folder(records, tmp_path):
    pytest.importorskip("datasets")
    path = tmp_path / "folder"
    assert write_records(path, records, file_type="hf") == len(records)
    assert read_back(path, "hf") == records


def test_an_option_the_backend_does_not_take_is_an_error_not_a_traceback(tmp_path, capsys):
    data = CORPUS / "escaped_control_chars.jsonl"
    code = main(["score", str(data), "-o", str(tmp_path / "out.jsonl"), *SCORE, "--base-url", "http://x"])
    assert code == 1
    assert "the 'fake' backend does not take the option(s) base_url" in capsys.readouterr().err


def test_the_fake_backend_takes_a_model_name_like_real_backends(tmp_path, capsys):
    """`clearft run --candidate-backend fake` names the fine-tuned model folder: it must work
    from the command line, and keep the two models' calls apart in the cache."""
    from clearft.backends.fake import FakeBackend

    assert FakeBackend(model="runs/model_filtered").model_id == "fake-model:runs/model_filtered"
    assert FakeBackend().model_id == "fake-model"
    data = CORPUS / "escaped_control_chars.jsonl"
    assert main(["score", str(data), "-o", str(tmp_path / "out.jsonl"), *SCORE, "--model", "m"]) == 0
