"""`clearft generate`: prompt files in, JSONL out (fake backend), and once for real (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.cli.generate_cmd import read_prompts
from clearft.cli.main import main
from clearft.errors import DataError


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--help"])
    assert exc.value.code == 0
    assert "--max-tokens" in capsys.readouterr().out


def test_text_prompts_one_per_line(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("first question\n\nsecond question\n")
    out = tmp_path / "out.jsonl"
    assert main(["generate", str(prompts), "-o", str(out), "--backend", "fake"]) == 0
    rows = lines(out)
    assert [r["prompt"] for r in rows] == ["first question", "second question"]
    assert [r["response"] for r in rows] == ["first question", "second question"]  # fake echoes
    assert [r["line"] for r in rows] == [1, 3]
    assert rows[0]["tokens"] == {"prompt": 2, "completion": 2}


def test_jsonl_prompts_and_messages_with_n_samples(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    prompts.write_text(json.dumps({"prompt": "a b"}) + "\n" + json.dumps({"messages": chat}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["generate", str(prompts), "-o", str(out), "--backend", "fake", "-n", "2"]) == 0
    rows = lines(out)
    assert rows[0]["responses"] == ["a b", "a b"]
    assert rows[1]["messages"] == chat and rows[1]["responses"] == ["hello there"] * 2


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    with pytest.raises(DataError, match="line 2"):
        read_prompts(prompts)
    assert main(["generate", str(prompts), "-o", str(tmp_path / "o.jsonl"), "--backend", "fake"]) == 1


def test_cache_makes_a_rerun_free(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\n")
    args = ["generate", str(prompts), "-o", str(tmp_path / "o.jsonl"), "--backend", "fake",
            "--cache", str(tmp_path / "c.sqlite")]
    assert main(args) == 0
    assert "0 hits, 2 misses" in capsys.readouterr().err
    assert main(args) == 0
    assert "2 hits, 0 misses" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_for_real_with_the_default_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("What is the capital of France?\nName a primary colour.\n")
    out = tmp_path / "out.jsonl"
    args = ["generate", str(prompts), "-o", str(out), "--max-tokens", "12", "-n", "2",
            "--temperature", "1.0", "--seed", "5", "--cache", str(tmp_path / "c.sqlite"), "--concurrency", "4"]
    assert main(args) == 0
    first = lines(out)
    assert len(first) == 2 and all(len(r["responses"]) == 2 for r in first)  # type: ignore[arg-type]
    # -n 2 answers of at most --max-tokens 12 each; the closing line adds up the records' counts
    assert all(0 < r["tokens"]["completion"] <= 2 * 12 for r in first)  # type: ignore[index]
    total = {k: sum(r["tokens"][k] for r in first) for k in ("prompt", "completion")}  # type: ignore[index]
    said = capsys.readouterr()
    assert f"{total['prompt']} prompt + {total['completion']} completion tokens" in said.out + said.err
    assert main(args + ["--cache", "off"]) == 0  # seeded: the same text without the cache
    assert [r["responses"] for r in lines(out)] == [r["responses"] for r in first]
