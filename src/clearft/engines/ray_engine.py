"""The Ray engine: chunks stream through Ray Data's ``map_batches`` into a pool of actors,
each holding one model replica (``replicas`` actors, each reserving ``cpus_per_replica``
CPUs and ``gpus_per_replica`` GPUs).

Why chunks and not rows: the driver cuts the rows into exactly the chunks the local runner
would send to its backend, and each Ray Data row *is* one chunk (``batch_size=1``). So every
backend call sees the same requests as in a local run, which keeps outputs equal to the
local runner's even for backends whose numbers move with batch composition.

Fault tolerance: Ray Data restarts a dead actor and retries the chunk it was running (actor
pools default to unlimited restarts and task retries); ``run_chunks`` in base.py resends
whatever is still missing if a whole job fails; the callers record each finished chunk as
it arrives (journal, call cache), so a rerun skips them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

from clearft.backends.usage import Usage
from clearft.deps import require
from clearft.engines.base import (
    BackendProfile,
    BackendSpec,
    BatchStep,
    ChunkResult,
    Engine,
    EngineConfig,
)
from clearft.engines.local import worker_name


class ReplicaWorker:
    """A Ray Data actor: sets its step up once (loads the model), then runs chunk after chunk."""

    def __init__(self, step: BatchStep) -> None:
        self.step = step
        self.step.setup()
        self.where = worker_name()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"index": [], "results": [], "usage": [], "worker": []}
        for index, payload in zip(batch["index"], batch["payload"], strict=True):
            usage = Usage()
            results = self.step.run(pickle.loads(payload), usage)
            out["index"].append(int(index))
            out["results"].append(pickle.dumps(results))
            out["usage"].append(pickle.dumps(usage))
            out["worker"].append(self.where)
        return out

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing left to release
            self.step.close()


class Profiler:
    """An actor that opens a backend and describes it. It is killed afterwards rather than
    closing the backend: closing a llama.cpp server right after it started was seen to
    hang in its C++ destructor (a Ray task doing so never returned)."""

    def __init__(self, spec: BackendSpec) -> None:
        self.backend = spec.open()

    def profile(self) -> BackendProfile:
        return BackendProfile.of(self.backend)


class RayEngine(Engine):
    name = "ray"

    def __init__(self, config: EngineConfig | None = None) -> None:
        super().__init__(config or EngineConfig(engine="ray"))
        self._owns_cluster = False

    def connect(self) -> Any:
        """Join the cluster already initialised in this process, the one named by the
        config or $RAY_ADDRESS, else start a local one (no dashboard: nothing listens
        beyond what Ray itself needs)."""
        ray = require("ray", "the ray engine")
        if not ray.is_initialized():
            address = self.config.address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=self.config.progress)
            else:
                ray.init(include_dashboard=False, log_to_driver=self.config.progress)
                self._owns_cluster = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.config.progress
        return ray

    def _resources(self) -> dict[str, float]:
        return {"num_cpus": self.config.cpus_per_replica, "num_gpus": self.config.gpus_per_replica}

    def profile(self, spec: BackendSpec) -> BackendProfile:
        # Opened where replicas run (a GPU node, maybe), not on the driver.
        ray = self.connect()
        actor = ray.remote(**self._resources())(Profiler).remote(spec)
        try:
            profile: BackendProfile = ray.get(actor.profile.remote())
        finally:
            ray.kill(actor, no_restart=True)
        return profile

    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        items = [{"index": i, "payload": pickle.dumps(chunk)} for i, chunk in enumerate(chunks)]
        if not items:
            return
        ray = self.connect()
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        scored = ds.map_batches(
            ReplicaWorker,
            fn_constructor_args=(step,),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(
                size=min(self.config.replicas, len(items)),
                **({"max_tasks_in_flight_per_actor": step.chunks_in_flight_per_replica}
                   if step.chunks_in_flight_per_replica else {})),
            **self._resources(),
        )
        for row in scored.iter_rows():
            yield ChunkResult(int(row["index"]), pickle.loads(row["results"]),
                              pickle.loads(row["usage"]), str(row["worker"]))

    def close(self) -> None:
        if self._owns_cluster:
            import ray

            ray.shutdown()
            self._owns_cluster = False
