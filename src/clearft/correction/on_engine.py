"""Auto-Correct on an engine: correct_file and write_candidates (correction/correct.py) run
unchanged on the driver with replay backends (engines/replay.py); the engine's replicas answer
their candidate and judge requests. Outputs are written only by the final, fully answered
pass, into a temporary folder beside them, then moved into place."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from clearft.backends.base import Backend
from clearft.correction.config import CorrectConfig
from clearft.correction.correct import CorrectSummary, correct_file
from clearft.correction.records import default_side_path, write_candidates
from clearft.data.options import DataOptions
from clearft.engines.base import BackendSpec, Engine
from clearft.engines.replay import ReplayBackend, replay_until_complete

T = TypeVar("T")
Pass = Callable[[dict[str, ReplayBackend], list[Path]], T]


def _replayed(outputs: Sequence[Path], one_pass: Pass[T], specs: Mapping[str, BackendSpec], engine: Engine,
              progress: Callable[[str], None] | None) -> T:
    """`one_pass(backends by role, temporary outputs)` replayed until fully answered; then its
    outputs are moved to `outputs`."""
    outputs = [Path(p) for p in outputs]
    for out in outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outputs[0].parent, prefix=".clearft-correct-") as tmp:
        tmp_outputs = [Path(tmp) / f"{i}-{out.name}" for i, out in enumerate(outputs)]
        result = replay_until_complete(lambda backends: one_pass(backends, tmp_outputs), specs, engine,
                                       log=progress)
        for tmp_out, out in zip(tmp_outputs, outputs, strict=True):
            shutil.move(str(tmp_out), str(out))
    return result


def correct_file_on_engine(
    data: str | Path,
    output: str | Path,
    judge: BackendSpec,
    config: CorrectConfig | None,
    engine: Engine,
    *,
    candidate: BackendSpec | None = None,
    uncorrected: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> CorrectSummary:
    """Auto-Correct `data` into `output` with the model calls run on `engine`. `options` are
    correct_file's own (threshold, all_rows, data_options, labels, context), passed on as
    they are."""
    config = config or CorrectConfig()
    out = Path(output)
    side = Path(uncorrected) if uncorrected else default_side_path(out)
    specs = {"judge": judge, **({"candidate": candidate} if candidate is not None else {})}

    def one_pass(backends: dict[str, ReplayBackend], tmp: list[Path]) -> CorrectSummary:
        return correct_file(data, tmp[0], backends["judge"], config, candidate_backend=backends.get("candidate"),
                            uncorrected=tmp[1], **options)

    if progress:
        progress(f"Auto-Correct on the {engine.name} engine")
    summary = _replayed([out, side], one_pass, specs, engine, progress)
    summary.output, summary.uncorrected = str(out), str(side)
    return summary


def write_candidates_on_engine(
    data: str | Path,
    output: str | Path,
    candidate: BackendSpec,
    config: CorrectConfig | None,
    engine: Engine,
    *,
    routes: Mapping[str, Path] | None = None,
    data_options: DataOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """write_candidates with the model calls run on `engine`: (rows written, the candidate
    backend's description). `routes` (cross-fit): prompt -> the fold model folder that
    answers it, opened like `candidate` with its `model` set to that folder."""
    from clearft.scoring.crossfit import FoldRoutingBackend

    routes = dict(routes or {})
    folds = {str(folder): _with_model(candidate, folder) for folder in sorted(set(routes.values()))}
    specs = {"candidate": candidate, **{f"fold:{folder}": spec for folder, spec in folds.items()}}

    def one_pass(backends: dict[str, ReplayBackend], tmp: list[Path]) -> tuple[int, dict[str, Any]]:
        backend: Backend = backends["candidate"]
        if routes:
            backend = FoldRoutingBackend(backend, routes, lambda folder: backends[f"fold:{folder}"])
        n = write_candidates(data, tmp[0], backend, config, data_options=data_options)
        return n, backend.describe()

    if progress:
        progress(f"Auto-Correct candidates on the {engine.name} engine")
    return _replayed([Path(output)], one_pass, specs, engine, progress)


def _with_model(spec: BackendSpec, folder: Path) -> BackendSpec:
    return BackendSpec(spec.name, spec.cache, {**spec.options, "model": str(folder)})
