"""One options object for how data is read (clearft.data.DataOptions): the same reader in
every command, and a run's recorded settings unchanged by it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clearft.cli.common import data_options
from clearft.data import DataOptions
from clearft.pipeline import RunConfig


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_only_the_options_given_are_passed_on(tmp_path: Path) -> None:
    src = write(tmp_path / "d.jsonl", [{"text": "q1", "label": "a"}, {"text": "q2", "label": "b"}])
    assert DataOptions().to_dict() == {}
    options = DataOptions(prompt_col="text", response_col="label", on_error="skip")
    assert options.to_dict() == {"prompt_col": "text", "response_col": "label", "on_error": "skip"}
    assert [(ex.prompt_text, ex.response) for ex in options.open(src)] == [("q1", "a"), ("q2", "b")]


def test_every_command_reads_its_data_flags_the_same_way() -> None:
    full = argparse.Namespace(data_format="alpaca", file_type="jsonl", prompt_col=None, response_col=None,
                              id_col="uid", on_error="skip")
    assert data_options(full) == DataOptions(format="alpaca", file_type="jsonl", id_col="uid", on_error="skip")
    # report, review and apply have only the column flags: the columns format is implied by them
    columns_only = argparse.Namespace(prompt_col="text", response_col="label")
    assert data_options(columns_only) == DataOptions(prompt_col="text", response_col="label", on_error="raise")


def test_a_runs_recorded_settings_keep_the_dict_form() -> None:
    assert RunConfig().to_dict()["data_options"] == {}
    config = RunConfig(data_options=DataOptions(prompt_col="text", response_col="label", on_error="raise"))
    assert config.fingerprint()["data_options"] == {"prompt_col": "text", "response_col": "label", "on_error": "raise"}
