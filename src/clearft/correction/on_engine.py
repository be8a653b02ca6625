"""Auto-Correct's model stages as engine steps: correct_file and write_candidates
(correction/correct.py) run unchanged on the driver with replay backends (engines/replay.py);
the engine answers their candidate and judge requests: Ray's replicas, or, on the local
engine (the local path of `run` and of the Python API), the backend already open in this
process. Outputs are written only by the final, fully answered pass, into a temporary
folder beside them, then moved into place."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from clearft.backends.base import Backend
from clearft.correction.config import CorrectConfig
from clearft.correction.correct import CorrectSummary, correct_file, label_model_cache
from clearft.correction.records import default_side_path, write_candidates
from clearft.data.options import DataOptions
from clearft.engines.base import BackendSpec, Engine
from clearft.engines.replay import ReplayBackend, replay_until_complete
from clearft.errors import ClearftError

T = TypeVar("T")
Pass = Callable[[dict[str, ReplayBackend], list[Path]], T]


def _replayed(outputs: Sequence[Path], one_pass: Pass[T], specs: Mapping[str, BackendSpec | Backend], engine: Engine,
              progress: Callable[[str], None] | None, requests_per_chunk: int) -> T:
    """`one_pass(backends by role, temporary outputs)` replayed until fully answered, the
    requests sent `requests_per_chunk` at a time (the config's rows per backend call); then
    its outputs are moved to `outputs`."""
    outputs = [Path(p) for p in outputs]
    for out in outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outputs[0].parent, prefix=".clearft-correct-") as tmp:
        tmp_outputs = [Path(tmp) / f"{i}-{out.name}" for i, out in enumerate(outputs)]
        result = replay_until_complete(lambda backends: one_pass(backends, tmp_outputs), specs, engine,
                                       requests_per_chunk=requests_per_chunk, log=progress)
        for tmp_out, out in zip(tmp_outputs, outputs, strict=True):
            shutil.move(str(tmp_out), str(out))
    return result


def correct_file_on_engine(
    data: str | Path,
    output: str | Path,
    judge: BackendSpec | Backend | None,
    config: CorrectConfig | None,
    engine: Engine,
    *,
    candidate: BackendSpec | Backend | None = None,
    uncorrected: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    label_cache: str | Path | None = None,
    **options: Any,
) -> CorrectSummary:
    """Auto-Correct `data` into `output` with the model calls run on `engine`. `options` are
    correct_file's own (threshold, all_rows, data_options, labels, context), passed on as
    they are. `judge` and `candidate`: recipes, or backends open here (local engine only);
    no `judge` for the evidence judge, which asks no model."""
    config = config or CorrectConfig()
    out = Path(output)
    side = Path(uncorrected) if uncorrected else default_side_path(out)
    roles = {"judge": judge, "candidate": candidate}
    specs = {role: source for role, source in roles.items() if source is not None}

    memo: dict[str, Any] = {}  # the label model, fitted in the first pass
    passes = [0]

    def one_pass(backends: dict[str, ReplayBackend], tmp: list[Path]) -> CorrectSummary:
        passes[0] += 1
        # The label model's folds are kept beside the real output, so a killed run reuses them;
        # correct_file's own messages come with the first pass (the later ones repeat it).
        return correct_file(data, tmp[0], backends.get("judge"), config, candidate_backend=backends.get("candidate"),
                            uncorrected=tmp[1], label_cache=label_cache or label_model_cache(out), memo=memo,
                            progress=progress if passes[0] == 1 else None, **options)

    if progress:
        progress(f"Auto-Correct on the {engine.name} engine")
    summary = _replayed([out, side], one_pass, specs, engine, progress, config.batch_size)
    summary.output, summary.uncorrected = str(out), str(side)
    return summary


def write_candidates_on_engine(
    data: str | Path,
    output: str | Path,
    candidate: BackendSpec | Backend,
    config: CorrectConfig | None,
    engine: Engine,
    *,
    routes: Mapping[str, Path] | None = None,
    data_options: DataOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """write_candidates with the model calls run on `engine`: (rows written, the candidate
    backend's description). `routes` (cross-fit): prompt -> the fold model folder that
    answers it, opened like `candidate` (a recipe) with its `model` set to that folder; a
    backend open here does its own routing."""
    from clearft.scoring.crossfit import FoldRoutingBackend

    routes = dict(routes or {})
    folds: dict[str, BackendSpec] = {}
    if routes:
        if isinstance(candidate, Backend):
            raise ClearftError("internal: fold routes come with a backend recipe, not an open backend")
        folds = {str(folder): _with_model(candidate, folder) for folder in sorted(set(routes.values()))}
    specs: dict[str, BackendSpec | Backend] = {
        "candidate": candidate, **{f"fold:{folder}": spec for folder, spec in folds.items()}}

    def one_pass(backends: dict[str, ReplayBackend], tmp: list[Path]) -> tuple[int, dict[str, Any]]:
        backend: Backend = backends["candidate"]
        if routes:
            backend = FoldRoutingBackend(backend, routes, lambda folder: backends[f"fold:{folder}"])
        n = write_candidates(data, tmp[0], backend, config, data_options=data_options)
        return n, backend.describe()

    if progress:
        progress(f"Auto-Correct candidates on the {engine.name} engine")
    return _replayed([Path(output)], one_pass, specs, engine, progress, (config or CorrectConfig()).batch_size)


def _with_model(spec: BackendSpec, folder: Path) -> BackendSpec:
    return BackendSpec(spec.name, spec.cache, {**spec.options, "model": str(folder)})
