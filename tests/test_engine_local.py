"""The engine contract on the local engine, with the fake backend: score_file runs on it
(borrowing the caller's backend), the engine runners give exactly the reference runners'
outputs, resume from the journal, and survive failures."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
from clearft.backends.fake import FakeBackend
from clearft.correction import CorrectConfig, correct_file
from clearft.correction.on_engine import correct_file_on_engine
from clearft.engines import (
    BackendSpec,
    ChunkResult,
    EngineConfig,
    LocalEngine,
    make_engine,
    run_chunks,
)
from clearft.engines.base import BackendProfile, BatchStep, chunked
from clearft.engines.replay import PENDING, ReplayBackend, call_key
from clearft.errors import ClearftError
from clearft.scoring import make_config, score_file, score_file_on_engine
from clearft.scoring.result import Usage
from clearft.scoring.runfile import journal_path
from clearft.scoring.step import ScoreStep
from tests.test_engine_fakes import (
    FAKE,
    FAKE_JUDGE,
    judge_letters,
    judge_responder,
    read_jsonl,
    write_rows,
)


class Owned(FakeBackend):
    """A caller's backend that notes being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_score_file_runs_on_a_local_engine_borrowing_the_callers_backend(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "in.jsonl", 11)
    config = make_config("base", method="perplexity", batch_size=4)
    backend = Owned()
    summary = score_file(data, tmp_path / "out.jsonl", backend, config, progress=False)
    got = read_jsonl(tmp_path / "out.jsonl")
    assert len({r["confidence"] for r in got}) > 5  # real, distinct scores, not a constant
    assert summary.rows == summary.scored == 11
    assert summary.usage.requests == 11 and summary.usage.calls == 3  # one log-likelihood a row, batches of 4
    assert not journal_path(tmp_path / "out.jsonl").exists()
    assert not backend.closed  # the caller owns it
    assert "engine" not in json.loads((tmp_path / "out.jsonl.meta.json").read_text())["backend"]


def test_a_step_borrowing_a_live_backend_stays_on_the_local_engine() -> None:
    backend = Owned()
    step = ScoreStep(backend, make_config("base", method="perplexity"), "perplexity")
    step.setup()
    step.close()
    assert step.backend is backend and not backend.closed
    with pytest.raises(ClearftError, match="local engine only"):
        pickle.dumps(step)
    assert pickle.loads(pickle.dumps(ScoreStep(FAKE, step.config, "perplexity"))).spec == FAKE


def test_bsdetector_scores_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "in.jsonl", 7)
    ref_cfg = make_config("low", method="bsdetector", similarity="exact", batch_size=7)
    score_file(data, tmp_path / "ref.jsonl", FakeBackend(), ref_cfg, progress=False)
    cfg = make_config("low", method="bsdetector", similarity="exact", batch_size=2)
    score_file_on_engine(data, tmp_path / "eng.jsonl", FAKE, cfg, LocalEngine(), progress=False)
    assert read_jsonl(tmp_path / "eng.jsonl") == read_jsonl(tmp_path / "ref.jsonl")


def test_the_local_engine_takes_lazy_chunks_one_at_a_time() -> None:
    pulled: list[int] = []
    finished: list[int] = []

    def chunks() -> Iterator[list[int]]:
        for i in range(4):
            assert pulled == finished  # the chunk before was finished before this one is read
            pulled.append(i)
            yield [i]

    run_chunks(LocalEngine(), Double(), chunks(), lambda done: finished.append(done.index))
    assert finished == [0, 1, 2, 3]


def test_a_failure_without_retries_is_raised_as_it_is() -> None:
    class Broken(BatchStep):
        def run(self, items: list[Any], usage: Usage) -> list[Any]:
            raise ValueError("a bug in the step")

    with pytest.raises(ValueError, match="a bug in the step"):
        run_chunks(LocalEngine(EngineConfig(max_attempts=1)), Broken(), [[1]], lambda _r: None)


class StopAfter(LocalEngine):
    """A local engine that dies (like a killed driver) after `n` chunks."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        for i, result in enumerate(super().map_chunks(step, chunks)):
            if i == self.n:
                raise KeyboardInterrupt  # not an Exception: nothing retries it
            yield result


def test_a_killed_run_resumes_from_the_journal_without_rescoring(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "in.jsonl", 10)
    config = make_config("base", method="perplexity", batch_size=3)
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        score_file_on_engine(data, out, FAKE, config, StopAfter(2), progress=False)
    assert len(read_jsonl(journal_path(out))) == 6  # two chunks of three were recorded
    summary = score_file_on_engine(data, out, FAKE, config, LocalEngine(), progress=False)
    assert summary.reused == 6
    assert summary.usage.requests == 4  # only the rows the first run never finished
    score_file(data, tmp_path / "ref.jsonl", FakeBackend(), config, progress=False)
    assert read_jsonl(out) == read_jsonl(tmp_path / "ref.jsonl")


def test_a_journal_of_the_local_runner_is_resumed_by_the_engine_runner(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "in.jsonl", 6)
    config = make_config("base", method="perplexity", batch_size=2)
    out = tmp_path / "out.jsonl"
    score_file(data, out, FakeBackend(), config, progress=False)
    # score_file itself is killed at row r4, leaving its journal of the two chunks before it.
    partial = tmp_path / "half.jsonl"
    with pytest.raises(KeyboardInterrupt):
        score_file(data, partial, FakeBackend(scorer=_killed_at_r4), config, progress=False)
    summary = score_file_on_engine(data, partial, FAKE, config, LocalEngine(), progress=False)
    assert summary.reused == 4
    assert read_jsonl(partial) == read_jsonl(out)


def _killed_at_r4(req: LoglikelihoodRequest) -> float:
    if "4 plus 4" in req.messages[-1]["content"]:
        raise KeyboardInterrupt  # the process is stopped, not a row failure
    return FakeBackend().loglikelihood([req])[0].logprob


class FlakyEngine(LocalEngine):
    """Fails once, mid-job, the way a lost Ray node does."""

    def __init__(self) -> None:
        super().__init__(EngineConfig(max_attempts=2))
        self.failed = False
        self.sent: list[int] = []

    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        chunks = list(chunks)
        self.sent.append(len(chunks))
        for i, result in enumerate(super().map_chunks(step, chunks)):
            if i == 2 and not self.failed:
                self.failed = True
                raise ConnectionError("node lost")
            yield result


class Double(BatchStep):
    def run(self, items: list[Any], usage: Usage) -> list[Any]:
        usage.requests += len(items)
        return [2 * x for x in items]


def test_run_chunks_resends_only_unfinished_chunks_and_delivers_each_once() -> None:
    engine = FlakyEngine()
    chunks = chunked(list(range(10)), 2)
    got: dict[int, list[Any]] = {}

    def collect(done: ChunkResult) -> None:
        assert done.index not in got
        got[done.index] = done.results

    run_chunks(engine, Double(), chunks, collect)
    assert engine.sent == [5, 3]  # the retry carried only the three unfinished chunks
    assert [x for i in sorted(got) for x in got[i]] == [2 * x for x in range(10)]


def test_run_chunks_gives_up_with_a_clear_error() -> None:
    class AlwaysFails(LocalEngine):
        def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
            raise ConnectionError("cluster gone")
            yield  # pragma: no cover

    with pytest.raises(ClearftError, match="failed 3 times; 2 of 2 chunks unfinished"):
        run_chunks(AlwaysFails(), Double(), [[1], [2]], lambda _r: None)


def test_replay_backend_answers_known_requests_and_notes_the_rest() -> None:
    profile = BackendProfile.of(FakeBackend())
    known = GenerateRequest([{"role": "user", "content": "hi"}], seed=1)
    new = GenerateRequest([{"role": "user", "content": "hi"}], seed=2)
    answer = FakeBackend().generate([known])[0]
    replay = ReplayBackend(profile, {call_key("generate", known): answer})
    got = replay.generate([known, new, new])
    assert got[0] == answer
    assert got[1].error == PENDING and got[2].error == PENDING
    assert list(replay.pending.values()) == [("generate", new)]
    assert replay.capabilities == FakeBackend().capabilities and replay.model_id == "fake-model"


def test_correct_on_the_local_engine_equals_correct_file(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "dropped.jsonl", 9)
    config = CorrectConfig(judge="llm", batch_size=4)
    judge = FakeBackend(responder=judge_responder, choice_logprobs=judge_letters)
    cand = FakeBackend(responder=judge_responder)
    ref = correct_file(data, tmp_path / "ref.jsonl", judge, config, candidate_backend=cand)
    passes: list[str] = []
    got = correct_file_on_engine(data, tmp_path / "eng.jsonl", FAKE_JUDGE, config, LocalEngine(),
                                 candidate=FAKE_JUDGE, progress=passes.append)
    assert read_jsonl(tmp_path / "eng.jsonl") == read_jsonl(tmp_path / "ref.jsonl")
    assert read_jsonl(tmp_path / "eng.uncorrected.jsonl") == read_jsonl(tmp_path / "ref.uncorrected.jsonl")
    assert (got.replaced, got.judged, got.written, got.left_out) == (ref.replaced, ref.judged, ref.written, ref.left_out)
    assert ref.replaced > 0  # the scenario exercises real replacements
    # Candidates first, then their judging: two rounds of engine work, then the final pass.
    assert [m.split(":")[0] for m in passes if m.startswith("pass")] == ["pass 1", "pass 2"]
    assert not list(tmp_path.glob(".clearft-correct-*"))  # no temporary files left behind


def test_make_engine_validates_its_options() -> None:
    assert isinstance(make_engine(), LocalEngine)
    with pytest.raises(ClearftError, match="unknown engine"):
        make_engine(EngineConfig(engine="spark"))
    with pytest.raises(ClearftError, match="replicas"):
        make_engine(EngineConfig(engine="ray", replicas=0))


def test_backend_spec_opens_the_named_backend_without_cache_when_off() -> None:
    backend = BackendSpec("fake", "off").open()
    assert isinstance(backend, FakeBackend)


def test_backend_spec_paths_are_made_absolute_for_replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearft.engines.base import backend_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.gguf").write_bytes(b"")
    spec = backend_spec("llamacpp", None, {"model": "model.gguf", "concurrency": 2})
    assert spec.cache == str(tmp_path / ".clearft-cache" / "calls.sqlite")
    assert spec.options == {"model": str(tmp_path / "model.gguf"), "concurrency": 2}
    assert backend_spec("llamacpp", "off", {}).cache == "off"
    assert backend_spec("llamacpp", "c.sqlite", {}).cache == str(tmp_path / "c.sqlite")
    assert backend_spec("fake", None, {}).cache is None  # the fake backend is never cached
    assert backend_spec("openai", None, {"model": "gpt-4o-mini"}).options == {"model": "gpt-4o-mini"}


def test_a_command_makes_its_one_engine_on_first_use_and_closes_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    import clearft.engines as engines
    from clearft.engines.options import add_engine_args, command_engine

    closed: list[LocalEngine] = []

    class Counted(LocalEngine):
        def close(self) -> None:
            closed.append(self)

    monkeypatch.setattr(engines, "make_engine", Counted)
    parser = argparse.ArgumentParser()
    add_engine_args(parser)
    args = parser.parse_args(["--engine", "ray", "--replicas", "2"], argparse.Namespace(no_progress=True))
    with command_engine(args) as engine:
        assert not engine.local and engine.opened == 0  # nothing started until a step needs it
        assert engine.get() is engine.get() and engine.opened == 1
        assert engine.get().config.replicas == 2 and not engine.get().config.progress
    assert len(closed) == 1
    assert command_engine(parser.parse_args([], argparse.Namespace(no_progress=False))).local
    with pytest.raises(ClearftError, match="replicas"):  # checked before anything runs, local or not
        command_engine(parser.parse_args(["--replicas", "0"], argparse.Namespace(no_progress=True)))
