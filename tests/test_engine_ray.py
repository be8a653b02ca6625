"""The Ray engine on a local Ray cluster (started here: 2 CPUs, no dashboard, no network
beyond this machine). With the fake backend it must equal the local runner exactly; with the
default model (slow) it must too, even when one actor is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.fake import FakeBackend
from clearft.correction import CorrectConfig, correct_file
from clearft.correction.on_engine import correct_file_on_engine, write_candidates_on_engine
from clearft.data.example import Example
from clearft.engines import BackendSpec, ChunkResult, EngineConfig
from clearft.engines.base import BatchStep
from clearft.scoring import make_config, score_file, score_file_on_engine
from clearft.scoring.crossfit import CrossFitConfig, crossfit_examples
from clearft.scoring.runfile import journal_path
from tests import test_engine_fakes as engine_helpers
from tests.test_crossfit import check_fold_scores
from tests.test_engine_fakes import (
    FAKE,
    FAKE_JUDGE,
    judge_letters,
    judge_responder,
    read_jsonl,
    write_rows,
    write_story_rows,
)
from tests.test_engine_pipeline import data_files, fake_finetune, run_config, stage_info

ray = pytest.importorskip("ray")
from clearft.engines.ray_engine import RayEngine  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    import cloudpickle

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}})
    # The scripted fake backends live in the test package: ship them to the actors by value.
    cloudpickle.register_pickle_by_value(engine_helpers)
    yield
    cloudpickle.unregister_pickle_by_value(engine_helpers)
    ray.shutdown()


def ray_engine(replicas: int = 2) -> RayEngine:
    return RayEngine(EngineConfig(engine="ray", replicas=replicas, cpus_per_replica=1, progress=False))


def test_ray_scores_equal_the_local_runner_row_for_row(cluster: None, tmp_path: Path) -> None:
    data = write_rows(tmp_path / "in.jsonl", 10)
    config = make_config("low", method="bsdetector", similarity="exact", batch_size=3)
    ref = score_file(data, tmp_path / "ref.jsonl", FakeBackend(), config, progress=False)
    summary = score_file_on_engine(data, tmp_path / "ray.jsonl", FAKE, config, ray_engine(), progress=False)
    assert read_jsonl(tmp_path / "ray.jsonl") == read_jsonl(tmp_path / "ref.jsonl")
    assert summary.rows == summary.scored == 10
    # usage came back from the actors: the requests and tokens the local run spent
    spent = ("requests", "prompt_tokens", "completion_tokens")
    assert [getattr(summary.usage, k) for k in spent] == [getattr(ref.usage, k) for k in spent]
    assert ref.usage.requests >= 10 * 2  # preset low: a sample request and a reflection a row, and retries
    assert not journal_path(tmp_path / "ray.jsonl").exists()


def test_ray_correct_equals_the_local_correct(cluster: None, tmp_path: Path) -> None:
    data = write_rows(tmp_path / "dropped.jsonl", 7)
    config = CorrectConfig(judge="llm", batch_size=3)
    judge = FakeBackend(responder=judge_responder, choice_logprobs=judge_letters)
    ref = correct_file(data, tmp_path / "ref.jsonl", judge, config,
                       candidate_backend=FakeBackend(responder=judge_responder))
    got = correct_file_on_engine(data, tmp_path / "ray.jsonl", FAKE_JUDGE, config, ray_engine(),
                                 candidate=FAKE_JUDGE)
    assert read_jsonl(tmp_path / "ray.jsonl") == read_jsonl(tmp_path / "ref.jsonl")
    assert got.replaced == ref.replaced > 0


def test_cli_score_and_correct_with_engine_ray_equal_the_local_commands(cluster: None, tmp_path: Path) -> None:
    from clearft.cli.main import main

    data = write_rows(tmp_path / "in.jsonl", 8)
    common = ["--backend", "fake", "--method", "perplexity", "--batch-size", "3", "--no-progress"]
    assert main(["score", str(data), "-o", str(tmp_path / "local.jsonl"), *common]) == 0
    assert main(["score", str(data), "-o", str(tmp_path / "ray.jsonl"), *common,
                 "--engine", "ray", "--replicas", "2", "--cpus-per-replica", "1"]) == 0
    assert read_jsonl(tmp_path / "ray.jsonl") == read_jsonl(tmp_path / "local.jsonl")
    meta = (tmp_path / "ray.jsonl.meta.json").read_text(encoding="utf-8")
    assert '"engine": "ray"' in meta  # the metadata says where the scores came from


def test_run_with_engine_ray_scores_on_ray_like_the_pipeline_default(cluster: None, tmp_path: Path) -> None:
    from clearft.cli.main import build_parser
    from clearft.cli.run_cmd import build_config
    from clearft.pipeline.engine_toolkit import engine_toolkit
    from clearft.pipeline.toolkit import default_candidates, default_correct, default_score

    data = write_rows(tmp_path / "in.jsonl", 6)
    argv = ["run", str(data), "-o", str(tmp_path / "run"), "--backend", "fake", "--method", "perplexity",
            "--preset", "base", "--no-progress"]
    local_args = build_parser().parse_args(argv)
    assert engine_toolkit(local_args) is None  # local: the pipeline's own toolkit, unchanged
    args = build_parser().parse_args([*argv, "--engine", "ray", "--replicas", "2"])
    config = build_config(args)
    toolkit = engine_toolkit(args)
    # Auto-Correct's model stages go to the engine too (the next test runs them).
    assert toolkit.candidates is not default_candidates and toolkit.correct is not default_correct
    info = toolkit.score(data, tmp_path / "ray.jsonl", FakeBackend(), config)
    ref = default_score(data, tmp_path / "local.jsonl", FakeBackend(), config)
    assert read_jsonl(tmp_path / "ray.jsonl") == read_jsonl(tmp_path / "local.jsonl")
    assert (info["rows"], info["scored"], info["model_id"]) == (ref["rows"], ref["scored"], ref["model_id"])


def test_run_with_engine_ray_corrects_on_ray_and_equals_the_local_loop(cluster: None, tmp_path: Path) -> None:
    from clearft.pipeline import Toolkit, run_pipeline
    from clearft.pipeline.engine_toolkit import toolkit_on_engine

    data = write_story_rows(tmp_path / "in.jsonl", 8)
    run_pipeline(data, None, tmp_path / "local", run_config(), toolkit=Toolkit(finetune=fake_finetune))
    on_ray = toolkit_on_engine(EngineConfig(engine="ray", replicas=2, cpus_per_replica=1, progress=False),
                               Toolkit(finetune=fake_finetune))
    run_pipeline(data, None, tmp_path / "ray", run_config(), toolkit=on_ray)

    assert data_files(tmp_path / "ray") == data_files(tmp_path / "local")
    stages = stage_info(tmp_path / "ray")
    assert stages["candidates"]["candidate_backend"]["engine"] == "ray"  # Ray's replicas answered
    assert stages["correct"]["settings"]["judge_model"]["engine"] == "ray"
    assert stages["correct"]["replaced"] > 0


class KillOneActor(RayEngine):
    """Kills (SIGKILL) the actor that returned the first chunk, while the others still run."""

    killed: list[str] = []

    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        for result in super().map_chunks(step, chunks):
            if not self.killed:
                _host, pid = result.worker.rsplit(":", 1)
                os.kill(int(pid), signal.SIGKILL)
                self.killed.append(result.worker)
            yield result


def sentiment_rows(n: int = 12, flip: tuple[int, ...] = (1, 6)) -> list[Example]:
    out = []
    for i in range(n):
        good = i % 2 == 0
        label = ("negative" if good else "positive") if i in flip else ("positive" if good else "negative")
        out.append(Example(f"r{i}", [{"role": "user", "content": f"review {i}: it is {'good' if good else 'bad'}"}],
                           label))
    return out


def test_cross_fit_folds_run_side_by_side_on_ray_and_equal_local(cluster: None, tmp_path: Path) -> None:
    rows = sentiment_rows()
    cf = CrossFitConfig(folds=3)
    kw = {"train": engine_helpers.train_fold_stub, "open_model": engine_helpers.open_fold_stub}
    local = crossfit_examples(rows, tmp_path / "local", cf, make_config(), **kw)
    said: list[str] = []
    on_ray = crossfit_examples(rows, tmp_path / "ray", cf, make_config(), log=said.append,
                               engine=ray_engine(replicas=2), **kw)
    assert [r.columns() for r in on_ray] == [r.columns() for r in local]
    assert {r.id for r in sorted(on_ray, key=lambda r: r.confidence)[:2]} == {"r1", "r6"}
    trained = [json.loads((tmp_path / "ray" / f"fold-{i}-of-3" / "trained.json").read_text()) for i in (1, 2, 3)]
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert all(t["worker"] != here for t in trained)  # fine-tuned in the replicas, not the driver
    for fold, t in enumerate(trained):
        held = {r.id for r in on_ray if r.evidence["fold"] == fold}
        assert held and not held & set(t["ids"])  # never trained on a row it scores
    # finished folds are found again through the engine; nothing is scored twice
    again = crossfit_examples(rows, tmp_path / "ray", cf, make_config(), log=said.append,
                              engine=ray_engine(replicas=2), **kw)
    assert [r.confidence for r in again] == [r.confidence for r in on_ray]
    assert sum("scores reused" in line for line in said) == 3


def test_run_with_cross_fit_on_ray_fine_tunes_the_folds_in_replicas(
        cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearft.cli.main import build_parser
    from clearft.cli.run_cmd import build_config
    from clearft.pipeline.engine_toolkit import engine_toolkit
    from clearft.pipeline.toolkit import default_score
    from clearft.scoring.crossfit import models as cfmod

    monkeypatch.setattr(cfmod, "default_trainer", lambda *_a, **_k: engine_helpers.train_fold_stub)
    monkeypatch.setattr(cfmod, "default_opener", lambda *_a, **_k: engine_helpers.open_fold_stub)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": ex.id, "prompt": ex.messages[0]["content"], "response": ex.response})
                            + "\n" for ex in sentiment_rows()))
    argv = ["run", str(data), "-o", str(tmp_path / "run"), "--backend", "fake", "--cross-fit", "2", "--no-progress"]
    args = build_parser().parse_args([*argv, "--engine", "ray", "--replicas", "2"])
    info = engine_toolkit(args).score(data, tmp_path / "ray" / "scored.jsonl", FakeBackend(), build_config(args))
    ref = default_score(data, tmp_path / "local" / "scored.jsonl", FakeBackend(), build_config(args))
    assert info["engine"] == "ray" and ref["engine"] == "local"
    assert read_jsonl(tmp_path / "ray" / "scored.jsonl") == read_jsonl(tmp_path / "local" / "scored.jsonl")
    here = f"{socket.gethostname()}:{os.getpid()}"
    for fold in (1, 2):
        trained = json.loads((tmp_path / "ray" / "crossfit" / f"fold-{fold}-of-2" / "trained.json").read_text())
        assert trained["worker"] != here


@pytest.mark.slow
def test_real_model_on_ray_survives_a_killed_actor_and_equals_local(
    cluster: None, shared_data: Path, tmp_path: Path
) -> None:
    """12 rows of FPB (30% noise), the cheapest BSDetector preset, the default model."""
    import csv

    src = shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv"
    with src.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:12]
    data = tmp_path / "fpb12.csv"
    with data.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    # One sequence at a time: with llama.cpp's parallel slots (default 8) the letter
    # probabilities move by up to ~0.01 between two identical local runs (which sequences
    # share a decode batch changes the float sums), so no runner could match exactly.
    config = make_config("base", method="bsdetector", batch_size=2)
    spec = BackendSpec("llamacpp", "off", {"concurrency": 1})
    with spec.open() as backend:
        score_file(data, tmp_path / "local.jsonl", backend, config, progress=False)
    engine = KillOneActor(EngineConfig(engine="ray", replicas=2, progress=False))
    summary = score_file_on_engine(data, tmp_path / "ray.jsonl", spec, config, engine, progress=False)

    local, distributed = read_jsonl(tmp_path / "local.jsonl"), read_jsonl(tmp_path / "ray.jsonl")
    assert engine.killed  # an actor really died mid-run
    assert [r["id"] for r in distributed] == [r["id"] for r in local]  # nothing lost or duplicated
    assert len({r["id"] for r in distributed}) == 12
    assert [r["confidence"] for r in distributed] == [r["confidence"] for r in local]
    assert distributed == local
    assert all(r["confidence"] is not None for r in distributed)
    assert summary.failed == 0 and summary.rows == 12


@pytest.mark.slow
def test_real_model_correct_on_ray_equals_local(cluster: None, shared_data: Path, tmp_path: Path) -> None:
    """Auto-Correct's two model stages on 5 rows of FPB (30% noise) with the default model as
    candidate writer and judge: candidates, then their judging, on Ray equal the local runner's."""
    import csv

    from clearft.correction import write_candidates

    def read_csv(path: Path) -> list[dict[str, str]]:
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return path

    data = write_csv(tmp_path / "fpb5.csv", read_csv(shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv")[:5])
    # One sequence at a time: llama.cpp is bit-reproducible only then (see the scoring test above).
    spec = BackendSpec("llamacpp", "off", {"concurrency": 1})
    config = CorrectConfig(judge="llm", samples=2, explain=False, batch_size=2)
    engine = ray_engine()
    with spec.open() as model:
        write_candidates(data, tmp_path / "cands-local.csv", model, config)
        write_candidates_on_engine(data, tmp_path / "cands-ray.csv", spec, config, engine)
        candidates = read_csv(tmp_path / "cands-local.csv")
        assert read_csv(tmp_path / "cands-ray.csv") == candidates
        assert len(candidates) == 5
        # Where the untuned model gave no usable letter, or the row's own, the next option's
        # letter is the candidate instead, so every row is judged.
        for row in candidates:
            if row["clearft_candidate"].strip().upper() in ("", row["answer"]):
                row["clearft_candidate"] = {"A": "B", "B": "C", "C": "A"}[row["answer"]]
                row["clearft_candidate_error"] = ""
        to_judge = write_csv(tmp_path / "to_judge.csv", candidates)
        ref = correct_file(to_judge, tmp_path / "local.csv", model, config)
    got = correct_file_on_engine(to_judge, tmp_path / "ray.csv", spec, config, engine)

    assert read_csv(tmp_path / "ray.csv") == read_csv(tmp_path / "local.csv")
    assert read_csv(tmp_path / "ray.uncorrected.csv") == read_csv(tmp_path / "local.uncorrected.csv")
    assert (got.judged, got.replaced, got.reasons) == (ref.judged, ref.replaced, ref.reasons)
    assert ref.judged == 5


@pytest.mark.slow
def test_real_fold_models_fine_tune_and_score_on_ray_and_resume_locally(
        cluster: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`clearft score --cross-fit 2 --engine ray`: two real (one LoRA step) fold models of the
    embedded model, each fine-tuned, exported to GGUF and served by llama.cpp inside its own
    replica; the same command run locally afterwards finds both folds finished."""
    from clearft.cli.main import main

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": ex.id, "prompt": ex.messages[0]["content"], "response": ex.response})
                            + "\n" for ex in sentiment_rows(10, flip=(1,))))
    out = tmp_path / "scored.jsonl"
    args = ["score", str(data), "-o", str(out), "--cross-fit", "2", "--cache", "off", "--no-progress",
            "--cross-fit-set", "max_steps=1", "--cross-fit-set", "batch_size=4", "--cross-fit-set", "grad_accum=1",
            "--cross-fit-set", "lora_r=4", "--cross-fit-set", "lora_alpha=8", "--cross-fit-set", "max_seq_len=64"]
    assert main([*args, "--engine", "ray", "--replicas", "2", "--cpus-per-replica", "1"]) == 0
    err = capsys.readouterr().err
    # Which replica ran which fold is Ray's choice; that none ran on the driver is ours.
    workers = [line.rsplit("(", 1)[1].rstrip(")") for line in err.splitlines() if ": scored (" in line]
    assert len(workers) == 2 and f"{socket.gethostname()}:{os.getpid()}" not in workers
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["clearft_error"] is None for r in first)
    check_fold_scores([r["response"] for r in first], [(r["confidence"], r["clearft_evidence"]) for r in first],
                      CrossFitConfig().label_weight)
    assert all((tmp_path / "scored.jsonl.crossfit" / f"fold-{i}-of-2" / "model.gguf").is_file() for i in (1, 2))
    assert main(args) == 0
    assert capsys.readouterr().err.count("scores reused") == 2
    assert [json.loads(line) for line in out.read_text().splitlines()] == first


def test_evaluation_on_ray_equals_the_local_step(cluster: None, tmp_path: Path) -> None:
    """`run --engine ray` evaluates on the replicas: the same rows as the local engine."""
    from clearft.data import write_records
    from clearft.evaluation import evaluate

    test = tmp_path / "test.jsonl"
    write_records(test, [{"prompt": f"review {i}: it is {'good' if i % 2 else 'bad'}",
                          "response": "positive" if i % 3 else "negative"} for i in range(10)])
    options = {"backend": "fake", "backend_options": {"responder": judge_responder}, "batch_size": 3,
               "progress": False}
    here = evaluate("default", test, **options)  # type: ignore[arg-type]
    with ray_engine() as engine:
        there = evaluate("default", test, engine=engine, **options)  # type: ignore[arg-type]
    assert there.rows == here.rows and there.n == 10
    assert there.backend["engine"] == "ray"
