"""Command-line options of the engines (`--engine local|ray` and the replica settings), and
what `score`, `correct` and `run` do with them. Cheap to import: Ray loads only on use."""

from __future__ import annotations

import argparse

from clearft.engines.base import ENGINES, EngineConfig, backend_spec

__all__ = ["add_engine_args", "backend_spec", "engine_config"]


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
