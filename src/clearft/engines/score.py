"""score_file on an engine: the same run as scoring/runfile.py's score_file (validation,
journal, resume, output, metadata), with the chunks of rows scored by an engine's replicas.

The journal is the one score_file writes (same path, fingerprint and row keys), so a run
killed on one engine resumes on the other. Rows are cut into exactly the chunks score_file
would send to its backend; tests check that the outputs are equal row for row.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearft.engines.base import (
    BackendSpec,
    ChunkResult,
    Engine,
    ProfiledBackend,
    chunked,
    run_chunks,
)
from clearft.engines.steps import ScoreStep
from clearft.scoring.config import DATASET_METHODS, ScoreConfig
from clearft.scoring.engine import check_backend, estimate, resolve_method
from clearft.scoring.result import ScoreSummary
from clearft.scoring.runfile import (  # score_file's journal: both runners resume each other
    Journal,
    _row_key,
    _write_meta,
    fingerprint,
    journal_path,
    load_journal,
    score_file,
)


def score_file_on_engine(
    input: str | Path,
    output: str | Path,
    backend: BackendSpec,
    config: ScoreConfig,
    engine: Engine,
    *,
    format: str | None = None,
    file_type: str | None = None,
    prompt_col: str | None = None,
    response_col: str | None = None,
    id_col: str | None = None,
    on_error: str = "raise",
    rejects_path: str | Path | None = None,
    output_file_type: str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> ScoreSummary:
    """Score every record of `input` on `engine` and write them to `output` (see score_file)."""
    from clearft.data import open_dataset, write_records

    config.validate()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    data: dict[str, Any] = {"format": format, "file_type": file_type, "prompt_col": prompt_col,
            "response_col": response_col, "id_col": id_col, "on_error": on_error,
            "rejects_path": str(rejects_path) if rejects_path else None}
    started = time.monotonic()
    ds = open_dataset(input, **data)
    n_rows = ds.validate()  # every record checked before a replica starts
    method = resolve_method(config, list(ds))
    if method in DATASET_METHODS:
        # Cross-validated over the whole dataset, no model: nothing to distribute.
        return score_file(input, output, None, config, output_file_type=output_file_type,
                          dry_run=dry_run, progress=progress, log=log, **data)

    model = ProfiledBackend(engine.profile(backend), engine=engine.name)
    check_backend(method, model)
    summary = ScoreSummary(output=str(output), method=method, rows=n_rows, rejected=ds.rejected,
                           rejects_file=str(ds.rejects_path) if ds.rejected else None)
    if dry_run:
        summary.dry_run = True
        summary.estimate = estimate(list(ds), method, config, model)
        return summary

    fp = fingerprint(config, method, model)
    jpath = journal_path(output)
    results: dict[str, dict[str, Any]] = load_journal(jpath, fp)
    summary.reused = sum(1 for ex in ds if _row_key(ex) in results)
    if summary.reused:
        log(f"resuming: {summary.reused} rows already scored in {jpath}")
    chunks = chunked([ex for ex in ds if _row_key(ex) not in results], config.batch_size)
    journal = Journal(jpath, fp)
    from tqdm import tqdm

    bar = tqdm(total=n_rows, initial=summary.reused, unit="row", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, desc=f"score ({method}, {engine.name})")

    def record(done: ChunkResult) -> None:
        batch = chunks[done.index]
        journal.append([(_row_key(ex), r) for ex, r in zip(batch, done.results, strict=True)])
        for ex, r in zip(batch, done.results, strict=True):
            results[_row_key(ex)] = r.columns()
        summary.usage.merge(done.usage)
        bar.update(len(batch))

    try:
        run_chunks(engine, ScoreStep(backend, config, method), chunks, record, log)
    finally:
        bar.close()
        journal.close()

    records = []
    for ex in ds:
        columns = results[_row_key(ex)]
        records.append({**ex.record, **columns})
        summary.failed += columns.get("clearft_error") is not None
        summary.unknown_outputs += int((columns.get("clearft_evidence") or {}).get("unknown", 0) or 0)
    summary.scored = len(records) - summary.failed
    write_records(str(output), records, file_type=output_file_type)
    summary.seconds = time.monotonic() - started
    _write_meta(output, input, method, config, model, summary)
    journal_path(output).unlink(missing_ok=True)
    return summary
