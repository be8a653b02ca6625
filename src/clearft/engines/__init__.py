"""Engines: where the steps of a run execute.

* ``local``: in this process, chunk after chunk; the reference every engine must match.
* ``ray``: Ray Data streams chunks into actors, each holding one model replica.

Importing this package is cheap: Ray is imported only when a Ray engine connects.
"""

from __future__ import annotations

from clearft.engines.base import (
    ENGINES,
    BackendProfile,
    BackendSpec,
    BatchStep,
    ChunkResult,
    Engine,
    EngineConfig,
    ProfiledBackend,
    run_chunks,
)
from clearft.engines.local import LocalEngine


def make_engine(config: EngineConfig | None = None) -> Engine:
    """The engine `config.engine` names (default local). Commands get theirs through
    engines/options.py's command_engine, which makes it with this and closes it."""
    config = config or EngineConfig()
    config.validate()
    if config.engine == "ray":
        from clearft.engines.ray_engine import RayEngine

        return RayEngine(config)
    return LocalEngine(config)


__all__ = [
    "ENGINES", "BackendProfile", "BackendSpec", "BatchStep", "ChunkResult", "Engine", "EngineConfig",
    "LocalEngine", "ProfiledBackend", "make_engine", "run_chunks",
]
