"""correct_file on an engine: Auto-Correct itself (correction/correct.py) runs unchanged on
the driver with replay backends (replay.py); the engine's replicas answer its candidate
and judge requests. Outputs are written only by the final, fully answered pass."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearft.correction.config import CorrectConfig
from clearft.correction.correct import CorrectSummary, correct_file, default_side_path
from clearft.engines.base import BackendSpec, Engine
from clearft.engines.replay import ReplayBackend, replay_until_complete


def correct_file_on_engine(
    data: str | Path,
    output: str | Path,
    judge: BackendSpec,
    config: CorrectConfig | None,
    engine: Engine,
    *,
    candidate: BackendSpec | None = None,
    threshold: float | None = None,
    all_rows: bool = False,
    uncorrected: str | Path | None = None,
    data_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CorrectSummary:
    """Auto-Correct `data` into `output` with the model calls run on `engine` (see correct_file)."""
    config = config or CorrectConfig()
    out = Path(output)
    side = Path(uncorrected) if uncorrected else default_side_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    specs = {"judge": judge, **({"candidate": candidate} if candidate is not None else {})}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".clearft-correct-") as tmp:
        tmp_out, tmp_side = Path(tmp) / out.name, Path(tmp) / side.name

        def one_pass(backends: dict[str, ReplayBackend]) -> CorrectSummary:
            return correct_file(data, tmp_out, backends["judge"], config,
                                candidate_backend=backends.get("candidate"), threshold=threshold,
                                all_rows=all_rows, uncorrected=tmp_side, data_options=data_options)

        if progress:
            progress(f"Auto-Correct on the {engine.name} engine")
        summary = replay_until_complete(one_pass, specs, engine, log=progress)
        side.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp_out), str(out))
        shutil.move(str(tmp_side), str(side))
    summary.output, summary.uncorrected = str(out), str(side)
    return summary
