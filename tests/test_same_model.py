"""The same model everywhere (issue 14, item 4): the model `--model` names scores, judges and
is the base every fine-tune starts from, in `run` and in `score --cross-fit`; an API model,
which cannot be fine-tuned here, is a one-line error before anything runs; `--base-model`
is the explicit choice of another base. The model is the embedded GGUF copied under
another name, so a test cannot pass by falling back to the embedded one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main
from clearft.correction import CorrectConfig
from clearft.data import write_records
from clearft.errors import ClearftError
from clearft.pipeline import RunConfig, run_pipeline
from clearft.pipeline.toolkit import default_finetune, finetune_base_of, untuned_reference
from clearft.scoring.crossfit import models as cfmod

from .test_crossfit import Lab, sentiment_rows, write_rows
from .test_pipeline_run import ROWS, FakeStages


@pytest.fixture(scope="module")
def my_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model under another name, in another folder."""
    from clearft.models import default_gguf_path

    try:
        source = default_gguf_path()
    except Exception as exc:  # the embedded model not installed
        pytest.skip(str(exc))
    copy = tmp_path_factory.mktemp("models") / "my-model.gguf"
    shutil.copyfile(source, copy)
    return copy


class Trainer:
    """Stands for clearft.training.finetune: records the base of every fine-tune."""

    def __init__(self) -> None:
        self.bases: list[Any] = []

    def __call__(self, data: str, out_dir: str, config: Any, base_model: Any = None, **_: Any) -> Path:
        self.bases.append(base_model)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return Path(out_dir)


def test_run_fine_tunes_the_model_it_scores_with(tmp_path: Path, my_gguf: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import clearft.training as training

    trainer = Trainer()
    monkeypatch.setattr(training, "finetune", trainer)
    data = tmp_path / "train.jsonl"
    write_records(data, ROWS)
    stages = FakeStages()
    toolkit = stages.toolkit()
    toolkit.finetune = default_finetune  # the run's own fine-tune stage, up to the trainer
    # the scripted judge stands for the model being curated
    toolkit.open_backend = lambda name, cache=None, **o: stages.open_backend(
        "fake" if name == "llamacpp" else name, cache, **o)
    config = RunConfig(backend="llamacpp", backend_options={"model": str(my_gguf)}, candidate_backend="cands",
                       baseline_full=True, iterations=2, correct=CorrectConfig(judge="llm"))
    run_pipeline(data, None, tmp_path / "run", config, toolkit=toolkit)
    # full, filtered, corrected, corrected_2: every one from the model that scored
    assert trainer.bases == [str(my_gguf.resolve())] * 4


def test_base_model_is_the_explicit_choice_of_another_base(tmp_path: Path, my_gguf: Path) -> None:
    other = tmp_path / "other.gguf"
    other.symlink_to(my_gguf)
    config = RunConfig(backend="llamacpp", backend_options={"model": str(my_gguf)}, base_model=str(other))
    assert finetune_base_of(config) == str(other.resolve())
    assert finetune_base_of(RunConfig(backend="llamacpp")) is None  # the embedded model
    assert finetune_base_of(RunConfig(backend="openai", base_model=str(my_gguf))) == str(my_gguf.resolve())


def test_the_untuned_model_is_the_base_the_fine_tunes_start_from(my_gguf: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import clearft.training as training

    monkeypatch.setattr(training, "ensure_base_model", lambda model=None: Path(f"rebuilt:{model}"))
    config = RunConfig(backend="llamacpp", backend_options={"model": str(my_gguf)})
    assert untuned_reference(config) == f"rebuilt:{my_gguf.resolve()}"


@pytest.mark.parametrize("extra, message", [
    (["--backend", "openai", "--model", "gpt-4o-mini"], "--backend openai: the model 'gpt-4o-mini' is served "
                                                        "behind an API and cannot be fine-tuned here"),
    (["--model", "{tmp}/missing.gguf"], "no such file or folder, so there is no model to fine-tune"),
    (["--base-model", "{tmp}/train.jsonl"], "fine-tuning starts from a .gguf file or a Hugging Face model folder"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_model_that_cannot_be_fine_tuned_is_a_one_line_error_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str, dry_run: bool) -> None:
    data = tmp_path / "train.jsonl"
    write_records(data, ROWS)
    run_dir = tmp_path / "run"
    argv = ["run", str(data), "-o", str(run_dir), *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    assert main(argv + (["--dry-run"] if dry_run else [])) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not run_dir.exists()  # nothing ran


def test_an_api_model_with_a_base_model_or_own_trainer_is_accepted(tmp_path: Path, my_gguf: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "train.jsonl"
    write_records(data, ROWS)
    common = ["run", str(data), "-o", str(tmp_path / "run"), "--backend", "openai", "--model", "gpt-4o-mini",
              "--dry-run"]
    assert main([*common, "--base-model", str(my_gguf)]) == 0
    assert main([*common, "--finetune-command", "mytrain --data {data} --out {output}"]) == 0
    assert "| finetune_filtered |" in capsys.readouterr().out


def test_score_cross_fit_fine_tunes_the_fold_models_from_model(tmp_path: Path, my_gguf: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows())
    lab = Lab()
    bases: list[Any] = []

    def trainer(finetune: dict[str, Any], base_model: Any = None) -> Any:
        bases.append(base_model)
        return lab.train

    monkeypatch.setattr(cfmod, "default_trainer", trainer)
    monkeypatch.setattr(cfmod, "default_opener", lambda *_a, **_k: lab.open)
    out = tmp_path / "s.jsonl"
    assert main(["score", str(data), "-o", str(out), "--cross-fit", "2", "--model", str(my_gguf),
                 "--no-progress"]) == 0
    assert bases == [str(my_gguf.resolve())]
    assert json.loads((tmp_path / "s.jsonl.meta.json").read_text())["crossfit"]["folds"] == 2


def test_score_cross_fit_with_an_api_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows())
    assert main(["score", str(data), "-o", str(tmp_path / "s.jsonl"), "--cross-fit", "2", "--backend", "openai",
                 "--model", "gpt-4o-mini"]) == 1
    assert "cannot be fine-tuned here" in capsys.readouterr().err
    assert not (tmp_path / "s.jsonl").exists()


def test_finetune_base_refuses_an_api_backend() -> None:
    from clearft.training.base_model import finetune_base

    with pytest.raises(ClearftError, match="--backend openai"):
        finetune_base("openai", None)
    assert finetune_base("fake", "anything") is None


@pytest.mark.slow
def test_real_run_finetune_stage_starts_from_the_copied_gguf(tmp_path: Path, my_gguf: Path) -> None:
    """One real LoRA step: the trainer's record names the copy as the base it rebuilt."""
    data = tmp_path / "train.jsonl"
    write_records(data, ROWS)
    config = RunConfig(backend="llamacpp", backend_options={"model": str(my_gguf)}, progress=False,
                       finetune={"max_steps": 1, "batch_size": 2, "grad_accum": 1, "lora_r": 4, "lora_alpha": 8,
                                 "max_seq_len": 64, "device": "cpu"})
    model = default_finetune(data, tmp_path / "model", config)
    meta = json.loads((model / "clearft-finetune.json").read_text())
    assert meta["base_model_arg"] == str(my_gguf.resolve())
    source = json.loads((Path(meta["base_model"]) / "clearft-base.json").read_text())
    assert source["identity"] == Path(meta["base_model"]).name
