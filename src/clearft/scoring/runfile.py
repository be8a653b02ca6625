"""score_file: score a whole dataset file, resumably, and write it back with the scores.

The run, in order: validate every record (before any model call); resolve the method;
score the rows on an engine in batches (scoring/step.py), appending each finished batch to
a journal beside the output (``<output>.partial.jsonl``, flushed and fsynced) so a killed
run resumes where it stopped; write the output atomically; record the settings in
``<output>.meta.json``; remove the journal.

The engine is ``engine=`` (its replicas open the model from a BackendSpec), else a local
engine in this process that scores batch after batch with the backend the caller passed.
Everything else, the journal included, is this same run, so a run killed on one engine
resumes on another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from clearft.backends.base import Backend
from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.engines.local import in_process
from clearft.errors import ClearftError
from clearft.scoring.config import DATASET_METHODS, ScoreConfig
from clearft.scoring.engine import (
    check_backend,
    estimate,
    free_text_method,
    resolve_method,
    score_examples,
)
from clearft.scoring.result import ScoreResult, ScoreSummary, Usage

if TYPE_CHECKING:
    from clearft.engines.base import BackendSpec, Engine

BackendSource = Backend | Callable[[], Backend] | None


def journal_path(output: str | Path) -> Path:
    return Path(f"{output}.partial.jsonl")


def meta_path(output: str | Path) -> Path:
    return Path(f"{output}.meta.json")


def _row_key(ex: Example) -> str:
    return f"{ex.line}:{ex.id}"


def fingerprint(config: ScoreConfig, method: str, backend: Backend | None) -> str:
    """What decides a score: settings (not the batch size: scores do not depend on it) and
    the model. Journal entries written under another fingerprint are not reused."""
    settings = config.to_dict()
    settings.pop("batch_size", None)
    settings["method"] = method
    settings["model"] = backend.model_id if backend is not None else None
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_journal(path: Path, fp: str) -> dict[str, dict[str, Any]]:
    """Finished rows of an earlier run with the same fingerprint. A torn last line (the
    run was killed mid-write) is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("fingerprint") == fp:
                done[entry["key"]] = entry["result"]
    return done


def index_journal(path: Path, fp: str) -> dict[str, int]:
    """Like load_journal, but where each finished row's line starts instead of its columns:
    a few dozen bytes a row in memory, however much evidence the row carries."""
    where: dict[str, int] = {}
    if not path.exists():
        return where
    offset = 0
    with path.open("rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                entry = None  # a torn last line
            if isinstance(entry, dict) and entry.get("fingerprint") == fp:
                where[entry["key"]] = offset
            offset += len(line)
    return where


class Journal:
    def __init__(self, path: Path, fp: str) -> None:
        self.path, self.fp = path, fp
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("ab")  # positioned at the end: tell() gives each line's offset
        if self._f.tell() > 0:
            # A kill mid-write can leave a torn last line: start a fresh one, or the next
            # entry would be glued to the fragment and lost to a later resume.
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._f.write(b"\n")

    def append(self, items: list[tuple[str, ScoreResult]]) -> list[int]:
        """Write finished rows (flushed and fsynced); returns where each line starts."""
        offsets = []
        for key, result in items:
            offsets.append(self._f.tell())
            line = json.dumps({"fingerprint": self.fp, "key": key, "result": result.columns()},
                              ensure_ascii=False, default=str) + "\n"
            self._f.write(line.encode("utf-8"))
        self._f.flush()
        os.fsync(self._f.fileno())
        return offsets

    def close(self) -> None:
        self._f.close()


def score_file(
    input: str | Path,
    output: str | Path,
    backend: BackendSource | BackendSpec,
    config: ScoreConfig,
    *,
    data_options: DataOptions | None = None,
    rejects_path: str | Path | None = None,
    output_file_type: str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> ScoreSummary:
    """Score every record of `input` and write them, with the score columns, to `output`.

    `backend` may be a Backend, a function that builds one (called only if the method
    needs a model: embedding-classifier does not), or None for embedding-classifier; the
    rows are then scored here, batch after batch, on a local engine that uses that backend
    and leaves closing it to the caller. With an `engine`, `backend` is the BackendSpec its
    replicas open the model from; the outputs are the same row for row.
    """
    from clearft.data import write_records

    config.validate()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.monotonic()
    ds = (data_options or DataOptions()).open(input, rejects_path=str(rejects_path) if rejects_path else None)
    n_rows = ds.validate()  # every record checked before a single token is spent
    method = resolve_method(config, ds)  # streams the targets; stops early at a long one
    model = None if method in DATASET_METHODS else _open_model(backend, engine)
    if config.method == "auto" and model is not None:
        method = free_text_method(model)  # free text: the model's own default
    check_backend(method, model)
    summary = ScoreSummary(output=str(output), method=method, rows=n_rows, rejected=ds.rejected,
                           rejects_file=str(ds.rejects_path) if ds.rejected else None)

    if dry_run:
        summary.dry_run = True
        summary.estimate = estimate(ds, method, config, model)
        return summary

    usage = summary.usage
    # Finished rows are not held in memory (a row's columns with their evidence cost a few KB,
    # which grew memory with the dataset: bench/load.py). Rows scored through the journal are
    # kept as offsets into it and read back while the output is written; dataset methods,
    # which score every row at once anyway, as compact JSON text. Either way a fresh run's
    # output is the JSON round trip a resumed run's is.
    results: dict[str, str] = {}
    in_journal: dict[str, int] = {}
    jpath = journal_path(output)
    if method in DATASET_METHODS:
        examples = list(ds)  # cross-validation needs every row at once
        for ex, r in zip(examples, score_examples(examples, None, config, usage, method=method), strict=True):
            results[_row_key(ex)] = _compact(r.columns())
    else:
        fp = fingerprint(config, method, model)
        in_journal = index_journal(jpath, fp)
        summary.reused = sum(1 for ex in ds if _row_key(ex) in in_journal)
        if summary.reused:
            log(f"resuming: {summary.reused} rows already scored in {jpath}")
        journal = Journal(jpath, fp)
        from tqdm.auto import tqdm

        where = f", {engine.name}" if engine is not None else ""
        bar = tqdm(total=n_rows, initial=summary.reused, unit="row", file=sys.stderr,
                   disable=not progress, dynamic_ncols=True, desc=f"score ({method}{where})")

        def record(batch: list[Example], scored: list[ScoreResult], batch_usage: Usage) -> None:
            keys = [_row_key(ex) for ex in batch]
            offsets = journal.append(list(zip(keys, scored, strict=True)))
            in_journal.update(zip(keys, offsets, strict=True))
            usage.merge(batch_usage)
            bar.update(len(batch))
            bar.set_postfix(tokens=usage.prompt_tokens + usage.completion_tokens, refresh=False)

        try:
            from clearft.scoring.step import score_on_engine

            todo = (ex for ex in ds if _row_key(ex) not in in_journal)
            # On an engine its replicas open the model from the spec (checked by _open_model);
            # here, the local engine borrows the caller's backend.
            source = cast("BackendSpec", backend) if engine is not None else cast(Backend, model)
            score_on_engine(engine or in_process(progress), source, config, method, todo, record, log)
        finally:
            bar.close()
            journal.close()

    def records(journal_file: Any) -> Iterator[dict[str, Any]]:  # streamed to the writer
        for ex in ds:
            key = _row_key(ex)
            if key in in_journal:
                journal_file.seek(in_journal[key])
                columns = json.loads(journal_file.readline())["result"]
            else:
                columns = json.loads(results[key])
            summary.failed += columns.get("clearft_error") is not None
            summary.unknown_outputs += int((columns.get("clearft_evidence") or {}).get("unknown", 0) or 0)
            yield {**ex.record, **columns}

    with (jpath.open("rb") if in_journal else contextlib.nullcontext()) as journal_file:
        written = write_records(str(output), records(journal_file), file_type=output_file_type)
    summary.scored = written - summary.failed
    summary.seconds = time.monotonic() - started
    _write_meta(output, input, method, config, model, summary)
    if method not in DATASET_METHODS:
        journal_path(output).unlink(missing_ok=True)
    return summary


def score_file_on_engine(
    input: str | Path,
    output: str | Path,
    backend: BackendSpec,
    config: ScoreConfig,
    engine: Engine,
    **options: Any,
) -> ScoreSummary:
    """score_file(input, output, backend, config, engine=engine, **options)."""
    return score_file(input, output, backend, config, engine=engine, **options)


def _open_model(backend: BackendSource | BackendSpec, engine: Engine | None) -> Backend | None:
    """The scoring model: opened here, or, on an engine, a stand-in with the identity and
    capabilities of the model its replicas open (checked before any row is sent)."""
    from clearft.engines.base import BackendSpec, ProfiledBackend

    if engine is not None:
        if not isinstance(backend, BackendSpec):
            raise ClearftError("score_file on an engine needs a BackendSpec (how replicas open the model)")
        return ProfiledBackend(engine.profile(backend), engine=engine.name)
    if isinstance(backend, BackendSpec):
        raise ClearftError("score_file got a BackendSpec but no engine: pass engine=, or a Backend")
    return backend() if callable(backend) and not isinstance(backend, Backend) else backend


def _compact(columns: dict[str, Any]) -> str:
    return json.dumps(columns, ensure_ascii=False, default=str)


def _write_meta(output: str | Path, input: str | Path, method: str, config: ScoreConfig,
                model: Backend | None, summary: ScoreSummary) -> None:
    from clearft import __version__

    meta = {
        "clearft_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": str(input),
        "output": str(output),
        "method": method,
        "preset": config.preset,
        "alpha": config.alpha,
        "beta": config.beta,
        "k": config.k,
        "rounds": config.rounds,
        "seed": config.seed,
        "config": config.to_dict(),
        "backend": model.describe() if model is not None else None,
        "summary": summary.to_dict(),
    }
    path = meta_path(output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
