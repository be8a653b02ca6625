"""clearft export: every trainer format round-trips through clearft.data's readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.cli.main import main
from clearft.data import open_dataset
from clearft.data.example import Example
from clearft.errors import ClearftError
from clearft.training.export import EXPORT_FORMATS, export_examples, to_record

SINGLE = [
    Example(id="a", messages=[{"role": "user", "content": "Capital of France?"}], response="Paris"),
    Example(id="b", messages=[{"role": "user", "content": "2 + 2 =\nanswer briefly"}], response="4"),
]
CHAT = Example(
    id="c",
    messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a colour."},
    ],
    response="Blue",
)


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_single_turn_round_trip(fmt: str, suffix: str, tmp_path: Path) -> None:
    if fmt == "openai" and suffix != ".jsonl":
        pytest.skip("OpenAI reads JSONL only (tested below)")
    path = tmp_path / f"out{suffix}"
    assert export_examples(SINGLE, path, fmt) == 2
    back = list(open_dataset(path))
    assert [(b.messages, b.response) for b in back] == [(e.messages, e.response) for e in SINGLE]


@pytest.mark.parametrize("fmt", ["messages", "openai", "trl", "sharegpt"])
def test_chat_formats_keep_system_and_earlier_turns(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    export_examples([CHAT], path, fmt)
    (back,) = list(open_dataset(path))
    assert back.messages == CHAT.messages and back.response == "Blue"


def test_record_shapes() -> None:
    assert to_record(SINGLE[0], "openai", include_id=True) == {
        "messages": [{"role": "user", "content": "Capital of France?"},
                     {"role": "assistant", "content": "Paris"}]
    }
    assert to_record(SINGLE[0], "alpaca", include_id=True) == {
        "id": "a", "instruction": "Capital of France?", "input": "", "output": "Paris"}
    alpaca = to_record(CHAT, "alpaca")
    assert alpaca["system"] == "Be brief." and alpaca["history"] == [["Hi", "Hello."]]
    assert [t["from"] for t in to_record(CHAT, "sharegpt")["conversations"]] == [
        "system", "human", "gpt", "human", "gpt"]
    assert to_record(SINGLE[0], "prompt-completion") == {
        "prompt": "Capital of France?", "completion": "Paris"}
    with pytest.raises(ClearftError):
        to_record(SINGLE[0], "jsonl-ish")


def test_openai_export_refuses_non_jsonl(tmp_path: Path) -> None:
    with pytest.raises(ClearftError, match="JSONL"):
        export_examples(SINGLE, tmp_path / "x.csv", "openai")


def test_cli_export_real_file(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "robustft" / "fpb" / "test.csv"
    out = tmp_path / "fpb.openai.jsonl"
    assert main(["export", str(src), "-o", str(out), "--to", "openai"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 303
    first = lines[0]["messages"]
    assert first[-1] == {"role": "assistant", "content": "C"}
    assert "A. negative" in first[0]["content"]
    assert set(lines[0]) == {"messages"}


def test_cli_export_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "sharegpt" in capsys.readouterr().out
