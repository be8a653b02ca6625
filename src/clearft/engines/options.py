"""Command-line options of the engines (`--engine local|ray` and the replica settings), and
what `score`, `correct` and `run` do with them. Cheap to import: Ray loads only on use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from clearft.engines.base import ENGINES, BackendSpec, EngineConfig


def add_engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine (where model calls run)")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local (default): in this process; ray: on a Ray cluster, one model replica "
                        "per actor (pip install 'clearft[ray]'; joins $RAY_ADDRESS or --ray-address, "
                        "else starts a local cluster)")
    g.add_argument("--replicas", type=int, default=1, help="ray: actors, each holding one model replica (1)")
    g.add_argument("--cpus-per-replica", type=float, default=1.0, help="ray: CPUs each replica reserves (1)")
    g.add_argument("--gpus-per-replica", type=float, default=0.0, help="ray: GPUs each replica reserves (0)")
    g.add_argument("--ray-address", default=None,
                   help="ray: the cluster to join (e.g. auto, ray://head:10001); default $RAY_ADDRESS")


def engine_config(args: argparse.Namespace, progress: bool = True) -> EngineConfig:
    config = EngineConfig(engine=args.engine, replicas=args.replicas, cpus_per_replica=args.cpus_per_replica,
                          gpus_per_replica=args.gpus_per_replica, address=args.ray_address, progress=progress)
    config.validate()
    return config


def backend_spec(name: str | None, cache: str | None, options: dict[str, Any]) -> BackendSpec:
    """A spec whose paths mean the same files in every replica: the default cache and
    relative cache and model paths are made absolute here, on the driver."""
    from clearft.backends.cache import DEFAULT_CACHE_PATH

    if cache is None and name != "fake":
        cache = str(Path.cwd() / DEFAULT_CACHE_PATH)
    elif cache is not None and str(cache).lower() not in ("off", "none", "no", "false", ""):
        cache = str(Path(cache).resolve())
    options = dict(options)
    model = options.get("model")
    if isinstance(model, str) and not Path(model).is_absolute() and Path(model).exists():
        options["model"] = str(Path(model).resolve())  # replicas may not share our directory
    return BackendSpec(name, cache, options)


def engine_toolkit(args: argparse.Namespace) -> Any:
    """For `clearft run`: a pipeline Toolkit whose model stages (score, Auto-Correct's
    candidates and judge) run on the chosen engine (None for the local engine: the
    pipeline's own toolkit)."""
    if args.engine == "local":
        return None
    from clearft.engines.toolkit import toolkit_on_engine

    return toolkit_on_engine(engine_config(args, progress=not args.no_progress))
