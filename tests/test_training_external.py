"""finetune_external: the user's trainer is run, and must leave a model behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from clearft.cli.main import main
from clearft.errors import ClearftError
from clearft.training import finetune_external
from clearft.training.external import build_command, looks_like_model

# A stand-in trainer: counts the data lines, writes a "model" folder, or fails on request.
TRAINER = """
import json, pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
out = pathlib.Path(args["--out"])
rows = pathlib.Path(args["--data"]).read_text().splitlines()
if args.get("--mode") == "fail":
    print("trainer exploded: CUDA out of memory", file=sys.stderr)
    sys.exit(3)
out.mkdir(parents=True, exist_ok=True)
if args.get("--mode") != "empty":
    (out / "config.json").write_text(json.dumps({"rows": len(rows)}))
    (out / "model.safetensors").write_bytes(b"weights")
counter = pathlib.Path(args["--count"])
counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
"""


@pytest.fixture
def trainer(tmp_path: Path) -> str:
    script = tmp_path / "my trainer.py"  # a space in the path: must survive quoting
    script.write_text(TRAINER)
    return f"{sys.executable} '{script}'"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train data.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "d"}\n')
    return path


def test_runs_the_command_and_returns_the_model(trainer: str, data: Path, tmp_path: Path) -> None:
    count = tmp_path / "count.txt"
    out = tmp_path / "model out"
    template = f"{trainer} --data {{data}} --out {{output}} --count '{count}'"
    assert finetune_external(template, data, out) == out
    assert (out / "config.json").read_text() == '{"rows": 2}'
    assert (out / "DONE").is_file()
    # A rerun finds the finished model and does not train again.
    assert finetune_external(template, data, out) == out
    assert count.read_text() == "1"


def test_failure_reports_exit_code_and_stderr(trainer: str, data: Path, tmp_path: Path) -> None:
    template = f"{trainer} --data {{data}} --out {{output}} --mode fail --count {tmp_path / 'c'}"
    with pytest.raises(ClearftError, match=r"exit code 3[\s\S]*CUDA out of memory"):
        finetune_external(template, data, tmp_path / "m")


def test_success_without_a_model_is_an_error(trainer: str, data: Path, tmp_path: Path) -> None:
    template = f"{trainer} --data {{data}} --out {{output}} --mode empty --count {tmp_path / 'c'}"
    with pytest.raises(ClearftError, match="holds no model"):
        finetune_external(template, data, tmp_path / "m")
    assert not (tmp_path / "m" / "DONE").exists()


def test_build_command_needs_placeholders_and_quotes_paths(tmp_path: Path) -> None:
    argv = build_command("train --data {data} --out={output}", "/a b/d.jsonl", "/o")
    assert argv == ["train", "--data", "/a b/d.jsonl", "--out=/o"]
    with pytest.raises(ClearftError, match=r"\{data\}"):
        build_command("train --out {output}", "d", "o")
    with pytest.raises(ClearftError, match="not found"):
        finetune_external("no-such-trainer-xyz {data} {output}", __file__, tmp_path / "m")


def test_looks_like_model(tmp_path: Path) -> None:
    assert not looks_like_model(tmp_path / "missing")
    (tmp_path / "adapter_config.json").write_text("{}")
    assert not looks_like_model(tmp_path)
    (tmp_path / "adapter_model.safetensors").write_bytes(b"w")
    assert looks_like_model(tmp_path)
    gguf_dir = tmp_path / "g"
    gguf_dir.mkdir()
    (gguf_dir / "m.gguf").write_bytes(b"GGUF")
    assert looks_like_model(gguf_dir)


def test_cli_finetune_with_command(trainer: str, data: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-model"
    template = f"{trainer} --data {{data}} --out {{output}} --count {tmp_path / 'c'}"
    assert main(["finetune", str(data), "-o", str(out), "--command", template]) == 0
    assert "model written by your trainer" in capsys.readouterr().out
    assert (out / "DONE").is_file()
