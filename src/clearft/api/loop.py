"""clearft.curate: the whole CLEAR loop (`clearft run`) on in-memory data.

The rows are written into the run directory (as input-<hash>.jsonl: other data is another
run, which the run directory's resume check refuses), the pipeline runs there exactly as
`clearft run` runs it, and the final training set (the kept rows plus the confident
corrections of the last iteration) comes back as the input's type.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from clearft.api.common import data_options, settings_of
from clearft.api.convert import Table
from clearft.errors import ClearftError

T = TypeVar("T")


def curate(
    data: T,
    test: Any = None,
    *,
    run_dir: str | Path | None = None,
    backend: str = "llamacpp",
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    cache: str | None = None,
    method: str | None = None,
    preset: str | None = None,
    fraction: float | None = None,
    threshold: float | None = None,
    auto_threshold: bool = False,
    cross_fit: int = 0,
    cross_fit_parts: list[str] | None = None,
    finetune: dict[str, Any] | None = None,
    finetune_command: str | None = None,
    base_model: str | None = None,
    candidate_backend: str = "transformers",
    correct_all: bool = False,
    judge: str = "auto",
    iterations: int = 1,
    baseline_full: bool = False,
    metric: str = "auto",
    eval_limit: int | None = None,
    eval_backend: str | None = None,
    eval_untuned: bool = True,
    seed: int = 0,
    format: str | None = None,
    prompt_col: str | None = None,
    response_col: str | None = None,
    id_col: str | None = None,
    on_error: str = "raise",
    score_settings: dict[str, Any] | None = None,
    correct_settings: dict[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    return_summary: bool = False,
) -> T | tuple[T, dict[str, Any]]:
    """Score, filter, fine-tune, Auto-Correct, fine-tune again and evaluate, as `clearft run`;
    returns the curated training set as the input's type (the kept rows with
    `clearft_keep`, and the corrected ones with `clearft_original_response` and
    `clearft_correction`), or with `return_summary` (that, what summary.json holds).

    `data`: a pandas DataFrame, a datasets.Dataset or a list of dicts. `test`: held-out rows
    (the same types, or a file path); without it nothing is evaluated. `run_dir`: where every
    stage's output and the fine-tuned models go; a rerun with the same data resumes there
    (default: a temporary folder, removed on return). Backends are named, as on the command
    line (the loop opens and serves the fine-tuned models itself): `backend` with `model`
    and `backend_options` is the model being curated: it scores, judges and is the base every
    fine-tune starts from (`base_model`: another base, chosen explicitly; an API model needs
    one, or `finetune_command`); `candidate_backend` serves the fine-tuned ones.
    `finetune`: FinetuneConfig fields (epochs, max_steps, lora_r, ...), or an external
    trainer `finetune_command` ("mytrain --data {data} --out {output}"). `score_settings`:
    ScoreConfig fields; `correct_settings`: CorrectConfig fields (eta, samples, ...). The
    other keywords are `clearft run`'s options of the same names.
    """
    from clearft.correction.config import CorrectConfig
    from clearft.pipeline import RunConfig, run_pipeline
    from clearft.pipeline.run import RunPaths
    from clearft.scoring.config import ScoreConfig

    if not isinstance(backend, str) or not isinstance(candidate_backend, str):
        raise ClearftError("curate opens its models by name (it serves the fine-tuned models too): "
                           "pass backend and candidate_backend as names, e.g. backend='llamacpp'")
    try:
        correction = CorrectConfig(judge=judge, seed=seed,
                                   **settings_of(CorrectConfig, dict(correct_settings or {}), "correction"))
        config = RunConfig(
            seed=seed, backend=backend,
            backend_options={**(backend_options or {}), **({"model": model} if model else {})},
            candidate_backend=candidate_backend, eval_backend=eval_backend, cache=cache,
            data_options=data_options(format, prompt_col, response_col, id_col, on_error),
            method=method, preset=preset,
            score_options=settings_of(ScoreConfig, dict(score_settings or {}), "scoring"),
            fraction=fraction, threshold=threshold, auto_threshold=auto_threshold,
            cross_fit=cross_fit, cross_fit_parts=list(cross_fit_parts or ["label-prob", "embedding-classifier"]),
            finetune=dict(finetune or {}), finetune_command=finetune_command, base_model=base_model,
            correct=correction, correct_all=correct_all, iterations=iterations,
            baseline_full=baseline_full, eval_untuned=eval_untuned, eval_limit=eval_limit,
            metric=metric, progress=progress,
        )
    except ValueError as exc:
        raise ClearftError(str(exc)) from None
    table = Table(data)
    with _run_folder(run_dir) as folder:
        input_path = _write_hashed(table, folder, "input")
        test_path: Path | None = Path(test) if isinstance(test, (str, Path)) else None
        held_out = Table(test, "test") if test is not None and test_path is None else None
        if held_out is not None:
            test_path = _write_hashed(held_out, folder, "test")
        with table.errors(), held_out.errors() if held_out else contextlib.nullcontext():
            summary = run_pipeline(input_path, test_path, folder, config,
                                   log=log or (lambda m: print(m, file=sys.stderr)))
        curated: T = table.read(RunPaths(folder, ".jsonl").iteration(iterations)["train"])
    return (curated, summary) if return_summary else curated


@contextlib.contextmanager
def _run_folder(run_dir: str | Path | None) -> Iterator[Path]:
    if run_dir is not None:
        folder = Path(run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    from clearft.api.common import work_dir

    with work_dir() as tmp:
        (tmp / "run").mkdir()
        yield tmp / "run"


def _write_hashed(table: Table, folder: Path, stem: str) -> Path:
    """The rows as `<stem>-<content hash>.jsonl` in `folder` (rewritten only if missing)."""
    scratch = folder / f".{stem}.jsonl"
    table.write(scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()[:12]
    path = folder / f"{stem}-{digest}.jsonl"
    if path.exists():
        scratch.unlink()
    else:
        scratch.replace(path)
    table.path = path
    return path
