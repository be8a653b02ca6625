"""The delegating-backend base, and `score` opening exactly one engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
from clearft.backends.delegating import DelegatingBackend
from clearft.backends.fake import FakeBackend
from clearft.cli.main import main


def test_a_delegating_backend_is_its_inner_backend() -> None:
    inner = FakeBackend(model="m1")
    wrapped = DelegatingBackend(inner)
    req = GenerateRequest([{"role": "user", "content": "hi"}])
    assert (wrapped.name, wrapped.model_id, wrapped.capabilities) == (inner.name, inner.model_id, inner.capabilities)
    assert wrapped.describe() == inner.describe()
    assert wrapped.generate([req]) == FakeBackend(model="m1").generate([req])


def test_score_on_an_engine_opens_one_engine_and_closes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import clearft.engines as engines
    from clearft.engines import LocalEngine

    events: list[str] = []

    class Counted(LocalEngine):
        def __enter__(self) -> LocalEngine:
            events.append("open")
            return self

        def close(self) -> None:
            events.append("close")

    monkeypatch.setattr(engines, "make_engine", Counted)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"What is {i}+{i}?", "response": str(2 * i)}) + "\n"
                           for i in range(4)), encoding="utf-8")
    rc = main(["score", str(src), "-o", str(tmp_path / "s.jsonl"), "--backend", "fake", "--cache", "off",
               "--method", "bsdetector", "--similarity", "token-f1", "--no-progress", "--engine", "ray"])
    assert rc == 0 and events == ["open", "close"]


def test_the_fold_router_keeps_its_own_identity_and_scores_nothing(tmp_path: Path) -> None:
    from clearft.errors import CapabilityError
    from clearft.scoring.crossfit import FoldRoutingBackend

    router = FoldRoutingBackend(FakeBackend(model="m1"), {"k": tmp_path}, lambda folder: FakeBackend())
    assert router.describe()["backend"] == "crossfit-router" and router.name == "crossfit-router"
    assert router.model_id.endswith("+crossfit(1 folds)")
    with pytest.raises(CapabilityError):
        router.loglikelihood([LoglikelihoodRequest([{"role": "user", "content": "hi"}], "x")])


def test_the_replay_backend_wraps_the_profiled_stand_in() -> None:
    from clearft.engines.base import BackendProfile, ProfiledBackend
    from clearft.engines.replay import PENDING, ReplayBackend

    inner = FakeBackend(model="m1")
    replay = ReplayBackend(BackendProfile.of(inner), {}, engine="ray")
    assert isinstance(replay, DelegatingBackend) and isinstance(replay.inner, ProfiledBackend)
    assert (replay.name, replay.model_id, replay.capabilities) == (inner.name, inner.model_id, inner.capabilities)
    assert replay.describe() == {**inner.describe(), "engine": "ray"}
    req = LoglikelihoodRequest([{"role": "user", "content": "hi"}], "x")
    assert replay.loglikelihood([req])[0].error == PENDING  # noted, never sent to the stand-in


def _bench_module(name: str) -> object:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benches_timing_wrappers_are_delegating_backends() -> None:
    req = GenerateRequest([{"role": "user", "content": "hi"}], n=3, temperature=1.0, seed=4)
    batched = _bench_module("bsdetector_yardstick").Batched(FakeBackend(model="m1", parallel=8))  # type: ignore[attr-defined]
    one = _bench_module("score_speed").OneAtATime(FakeBackend(model="m1", parallel=8))  # type: ignore[attr-defined]
    for wrapper in (batched, one):
        assert isinstance(wrapper, DelegatingBackend) and wrapper.model_id == FakeBackend(model="m1").model_id
        assert len(wrapper.generate([req])[0].texts) == 3
        assert wrapper.capabilities.parallel_requests == 0  # never streamed: the baselines batch or go one by one
