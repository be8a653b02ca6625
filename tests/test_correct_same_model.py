"""The same model everywhere (issue 14 item 4) in `correct` and `finetune`: `--backend`/`--model`
name the model being curated — correct's judge, finetune's base — as in score and run; correct's
fine-tuned candidate writer is the separately named `--candidate-model`. The old names
(`--judge-backend`, `--judge-model`, finetune's `--base-model`) still work, unlisted; an old
command line whose `--model` is a model clearft fine-tuned is a one-line error, not a run that
judges with the fine-tuned model. Fake backends through the open_backend hook; no model runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import clearft
from clearft.cli.main import build_parser, command_parsers, main
from clearft.data import write_records
from clearft.errors import ClearftError

from .test_cli_flags import signature
from .test_correct_file import fine_tuned, truth_judge

ROWS = [{"id": "1", "prompt": "q1", "response": "negative"}, {"id": "2", "prompt": "q2", "response": "negative"}]


class Opened:
    """Stands for clearft.backends.cache.open_backend: records what each backend was opened
    with; the `judge_name` backend is the truthful judge, any other the fine-tuned writer."""

    def __init__(self, judge_name: str = "fake") -> None:
        self.judge_name = judge_name
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, cache: Any = None, **options: Any) -> Any:
        self.calls.append((name, options))
        return truth_judge() if name == self.judge_name else fine_tuned()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Opened:
    import clearft.backends.cache as cache

    recorder = Opened()
    monkeypatch.setattr(cache, "open_backend", recorder)
    return recorder


def fine_tune_output(folder: Path, part: str) -> Path:
    """A folder shaped like `clearft finetune`'s output, by one of its marks."""
    folder.mkdir(parents=True)
    if part == "adapter":
        (folder / "adapter").mkdir()
    else:
        (folder / "clearft-finetune.json").write_text("{}")
    (folder / "model.gguf").write_bytes(b"GGUF")
    return folder


@pytest.mark.parametrize("judge_flags", [["--backend", "fake", "--model", "base.gguf"],
                                         ["--judge-backend", "fake", "--judge-model", "base.gguf"]])
def test_model_reaches_the_judge_and_candidate_model_the_writer(
        tmp_path: Path, opened: Opened, capsys: pytest.CaptureFixture[str], judge_flags: list[str]) -> None:
    data = tmp_path / "dropped.jsonl"
    write_records(data, ROWS)
    out = tmp_path / "fixed.jsonl"
    code = main(["correct", str(data), "-o", str(out), "--judge", "llm", *judge_flags,
                 "--candidate-model", "ft/", "--candidate-backend", "transformers", "--cache", "off"])
    assert code == 0
    assert sorted(opened.calls) == [("fake", {"model": "base.gguf"}), ("transformers", {"model": "ft/"})]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["response"]) for r in rows] == [("1", "positive")]  # the judge took the writer's label
    assert "1 of 1 rows replaced by the llm judge" in capsys.readouterr().out


def test_correct_takes_the_model_options_score_takes() -> None:
    parsers = command_parsers(build_parser())
    for flag in ("--backend", "--model", "--base-url", "--api-key-env", "--concurrency", "--max-concurrency",
                 "--server-kind", "--cache"):
        by_command = [next(signature(a) for a in parsers[name]._actions if flag in a.option_strings)
                      for name in ("score", "correct", "run")]
        assert by_command[0] == by_command[1] == by_command[2], flag
    args = parsers["correct"].parse_args(["d", "-o", "o", "--model", "m.gguf", "--candidate-model", "ft/"])
    assert (args.backend, args.model, args.candidate_model, args.candidate_backend) == (
        "llamacpp", "m.gguf", "ft/", None)


@pytest.mark.parametrize("part", ["adapter", "meta"])
@pytest.mark.parametrize("inside", ["", "model.gguf"])
def test_a_fine_tuned_model_given_as_model_is_a_usage_error(
        tmp_path: Path, opened: Opened, capsys: pytest.CaptureFixture[str], part: str, inside: str) -> None:
    data = tmp_path / "dropped.jsonl"
    write_records(data, ROWS)
    ft = fine_tune_output(tmp_path / "model_filtered", part)
    model = str(ft / inside) if inside else str(ft)
    for old in (["--model", model], ["--judge-model", model]):
        for dry in ([], ["--dry-run"]):
            assert main(["correct", str(data), "-o", str(tmp_path / "o.jsonl"), *old, *dry]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err
            assert err.startswith(f"clearft correct: error: --model {model}: a model clearft fine-tuned")
            assert err.rstrip().endswith(f"is --candidate-model {model}")
    assert opened.calls == [] and not (tmp_path / "o.jsonl").exists()


def test_a_fine_tuned_judge_with_a_candidate_model_is_an_explicit_choice(
        tmp_path: Path, opened: Opened, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "dropped.jsonl"
    write_records(data, ROWS)
    ft = fine_tune_output(tmp_path / "model_filtered", "adapter")
    assert main(["correct", str(data), "-o", str(tmp_path / "o.jsonl"), "--model", str(ft),
                 "--candidate-model", str(ft), "--judge", "llm", "--dry-run"]) == 0
    assert f"candidate model ({ft} via transformers)" in capsys.readouterr().out
    plain = tmp_path / "plain"  # a model folder clearft did not fine-tune is any judge: no usage error
    plain.mkdir()
    assert main(["correct", str(data), "-o", str(tmp_path / "o.jsonl"), "--model", str(plain), "--dry-run"]) == 1
    assert "give the model that writes candidates (--candidate-model)" in capsys.readouterr().err


def test_the_python_api_names_the_models_as_the_cli(tmp_path: Path, opened: Opened) -> None:
    fixed = clearft.correct(ROWS, backend="fake", model="base.gguf", candidate_model="ft/",
                            candidate_backend="transformers", judge="llm", cache="off", progress=False)
    assert [(r["id"], r["response"]) for r in fixed] == [("1", "positive")]
    assert sorted(opened.calls) == [("fake", {"model": "base.gguf"}), ("transformers", {"model": "ft/"})]
    opened.calls.clear()
    old = clearft.correct(ROWS, judge_backend="fake", judge_model="base.gguf", candidate_model="ft/",
                          candidate_backend="transformers", judge="llm", cache="off", progress=False)
    assert old == fixed and sorted(opened.calls) == [("fake", {"model": "base.gguf"}),
                                                     ("transformers", {"model": "ft/"})]
    ft = fine_tune_output(tmp_path / "ft", "meta")
    with pytest.raises(ClearftError, match=f"the fine-tuned model that writes candidates is candidate_model {ft}"):
        clearft.correct(ROWS, model=str(ft), progress=False)


@pytest.mark.parametrize("flag", ["--model", "--base-model"])
def test_finetune_fine_tunes_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import clearft.training as training

    bases: list[Any] = []

    def trainer(data: str, out_dir: str, config: Any, base_model: Any = None, **_: Any) -> Path:
        bases.append(base_model)
        return Path(out_dir)

    monkeypatch.setattr(training, "finetune", trainer)
    data = tmp_path / "train.jsonl"
    write_records(data, ROWS)
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert main(["finetune", str(data), "-o", str(tmp_path / "m"), flag, str(gguf)]) == 0
    assert main(["finetune", str(data), "-o", str(tmp_path / "m")]) == 0
    assert bases == [str(gguf), None]
    capsys.readouterr()
    assert main(["finetune", str(data), "-o", str(tmp_path / "m"), flag, str(data)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--model" in err and "fine-tuning starts from a .gguf file" in err
    assert bases == [str(gguf), None]  # nothing was trained
