"""`clearft run` on an engine, with fake models: the score stage and Auto-Correct's
candidates and judge go to the engine's replicas, the outputs equal the local loop's, and a
run killed mid-correction resumes without asking again what was answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.base import GenerateRequest
from clearft.correction import CorrectConfig
from clearft.engines import EngineConfig
from clearft.pipeline import RunConfig, Toolkit, run_pipeline
from clearft.pipeline.engine_toolkit import toolkit_on_engine
from tests.test_engine_fakes import (
    count_engines,
    echo_judge_letters,
    echo_judge_responder,
    read_jsonl,
    write_story_rows,
)

# Every data file the loop writes, up to the corrected training set.
DATA_FILES = ["scored", "kept", "dropped", "to_correct", "candidates", "corrected", "uncorrected",
              "train_corrected"]


def fake_finetune(data: Path, out_dir: Path, config: RunConfig) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def run_config(responder: Any = echo_judge_responder, iterations: int = 1) -> RunConfig:
    # The judge and the candidate model are opened by name, here or in a replica alike.
    return RunConfig(backend="fake", backend_options={"responder": responder, "choice_logprobs": echo_judge_letters},
                     candidate_backend="fake", method="perplexity", preset="base", progress=False,
                     iterations=iterations,
                     correct=CorrectConfig(judge="llm"))  # the scripted judge answers the llm judge's prompts


def data_files(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: read_jsonl(run_dir / f"{name}.jsonl") for name in DATA_FILES}


def stage_info(run_dir: Path) -> dict[str, Any]:
    stages: dict[str, Any] = json.loads((run_dir / "state.json").read_text())["stages"]
    return stages


def test_run_on_an_engine_corrects_there_and_equals_the_local_loop(tmp_path: Path) -> None:
    data = write_story_rows(tmp_path / "in.jsonl", 10)
    run_pipeline(data, None, tmp_path / "local", run_config(), toolkit=Toolkit(finetune=fake_finetune))
    engine = toolkit_on_engine(EngineConfig(engine="local", progress=False), Toolkit(finetune=fake_finetune))
    run_pipeline(data, None, tmp_path / "engine", run_config(), toolkit=engine)

    assert data_files(tmp_path / "engine") == data_files(tmp_path / "local")
    stages = stage_info(tmp_path / "engine")
    # An engine answered the candidate and judge calls, in the local loop too (issue 14: one
    # mechanism; there, the local engine with the models the loop opened).
    for run in (stages, stage_info(tmp_path / "local")):
        assert run["candidates"]["candidate_backend"]["engine"] == "local"
        assert run["correct"]["settings"]["judge_model"]["engine"] == "local"
    assert stages["correct"]["replaced"] > 0 and stages["correct"]["left_out"] > 0  # both outcomes occur


def test_one_engine_serves_every_model_stage_of_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run --engine ray` without an address starts one cluster per command: the stages share
    one engine, made when the first needs it and closed once, when the run ends."""
    made, closed = count_engines(monkeypatch)
    data = write_story_rows(tmp_path / "in.jsonl", 10)
    toolkit = toolkit_on_engine(EngineConfig(engine="local", progress=False), Toolkit(finetune=fake_finetune))
    run_pipeline(data, None, tmp_path / "run", run_config(iterations=2), toolkit=toolkit)
    stages = stage_info(tmp_path / "run")
    assert stages["candidates_2"]["candidate_backend"]["engine"] == "local"  # 5 model stages on the engine
    assert len(made) == 1 and closed == made


class Tripwire:
    """Counts the judge's replies; raises KeyboardInterrupt (the process killed) at reply `kill_at`."""

    calls = 0
    kill_at: int | None = None


def judge_with_tripwire(req: GenerateRequest, i: int) -> str:
    Tripwire.calls += 1
    if Tripwire.calls == Tripwire.kill_at:
        raise KeyboardInterrupt
    return echo_judge_responder(req, i)


def test_a_run_killed_while_judging_on_an_engine_resumes_from_the_call_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_story_rows(tmp_path / "in.jsonl", 40)
    config = run_config(judge_with_tripwire)

    def toolkit() -> Toolkit:
        return toolkit_on_engine(EngineConfig(engine="local", progress=False), Toolkit(finetune=fake_finetune))

    monkeypatch.setattr(Tripwire, "calls", 0)
    run_pipeline(data, None, tmp_path / "reference", config, toolkit=toolkit())
    uninterrupted = Tripwire.calls

    run_dir = tmp_path / "killed"
    monkeypatch.setattr(Tripwire, "calls", 0)
    monkeypatch.setattr(Tripwire, "kill_at", uninterrupted * 2 // 3)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(data, None, run_dir, config, toolkit=toolkit())
    assert "correct" not in stage_info(run_dir) and (run_dir / "candidates.jsonl").exists()

    monkeypatch.setattr(Tripwire, "calls", 0)
    monkeypatch.setattr(Tripwire, "kill_at", None)
    run_pipeline(data, None, run_dir, config, toolkit=toolkit())
    # Two thirds of the judging was answered before the kill: it comes back from the cache.
    assert 0 < Tripwire.calls < uninterrupted // 2
    assert data_files(run_dir) == data_files(tmp_path / "reference")
    assert not list(run_dir.glob(".clearft-correct-*"))  # no temporary outputs left behind


def test_cross_fit_candidates_on_an_engine_come_from_each_rows_fold_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clearft.backends.fake import FakeBackend
    from clearft.correction import CorrectConfig, write_candidates
    from clearft.correction.on_engine import write_candidates_on_engine
    from clearft.correction.records import read_examples
    from clearft.engines import BackendSpec, LocalEngine
    from clearft.scoring.crossfit import FoldRoutingBackend, messages_key

    monkeypatch.setattr(FakeBackend, "_reply", lambda self, req, i: f"answer from {Path(self.model).name}")
    data = write_story_rows(tmp_path / "in.jsonl", 6)
    _, examples = read_examples(data)
    routes = {messages_key(ex.messages): tmp_path / f"fold-{i % 2}" for i, ex in enumerate(examples[:4])}
    n, described = write_candidates_on_engine(data, tmp_path / "engine.jsonl", BackendSpec("fake", "off", {"model": "m1"}),
                                              CorrectConfig(judge="llm"), LocalEngine(), routes=routes)

    got = [r["clearft_candidate"] for r in read_jsonl(tmp_path / "engine.jsonl")]
    assert got == ["answer from fold-0", "answer from fold-1"] * 2 + ["answer from m1"] * 2
    assert n == 6 and described["backend"] == "crossfit-router"
    local = FoldRoutingBackend(FakeBackend(model="m1"), routes, lambda folder: FakeBackend(model=str(folder)))
    write_candidates(data, tmp_path / "local.jsonl", local, CorrectConfig(judge="llm"))
    assert read_jsonl(tmp_path / "engine.jsonl") == read_jsonl(tmp_path / "local.jsonl")
