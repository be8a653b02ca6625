"""Command-line options of the engines (`--engine local|ray` and the replica settings), and
the one place a command gets its engine from them: command_engine. Cheap to import: Ray
loads only on use."""

from __future__ import annotations

import argparse
import contextlib

from clearft.engines.base import ENGINES, Engine, EngineConfig, backend_spec

__all__ = ["CommandEngine", "add_engine_args", "backend_spec", "command_engine", "engine_config"]


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


class CommandEngine:
    """The one engine of a command (`score`, `correct`, `eval`, `run`): made from its config
    when a step first needs it (make_engine picks the class), closed once, when the command
    ends (`with`, or `close`). `run --engine ray` without an address thus starts one Ray
    cluster for the whole command, not one per stage.

    With `--engine local` (`local`), the commands take no engine from here: they run the same
    steps on the local engine (engines/local.py: in_process) with the backends they open in
    this process."""

    def __init__(self, config: EngineConfig) -> None:
        config.validate()
        self.config = config
        self._engine: Engine | None = None
        self._stack = contextlib.ExitStack()
        self.opened = 0  # engines made (one per command at most; tests check it)

    @property
    def local(self) -> bool:
        return self.config.engine == "local"

    def get(self) -> Engine:
        if self._engine is None:
            from clearft import engines

            self._engine = self._stack.enter_context(engines.make_engine(self.config))
            self.opened += 1
        return self._engine

    def close(self) -> None:
        self._engine = None
        self._stack.close()

    def __enter__(self) -> CommandEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def command_engine(args: argparse.Namespace) -> CommandEngine:
    """The command's engine, from its --engine options (checked now, before anything runs)."""
    return CommandEngine(engine_config(args, progress=not args.no_progress))
