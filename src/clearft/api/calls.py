"""clearft.score, clearft.filter and clearft.correct on in-memory data.

Each writes its input to JSONL in a temporary folder, runs the file function the CLI runs
(score_file, filter_file, correct_file_on_engine), and returns the output as the input's type: the
same rows and columns the output file would hold (convert.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, TypeVar, overload

from clearft.api.common import BackendArg, Model, data_options, reporter, settings_of, work_dir
from clearft.api.convert import Table
from clearft.errors import ClearftError

T = TypeVar("T")  # a list of dicts, a pandas DataFrame or a datasets.Dataset

DROP_COLUMNS = ("clearft_keep", "clearft_drop_reason")
CORRECT_COLUMNS = ("clearft_original_response", "clearft_correction")


def score(
    data: T,
    *,
    backend: BackendArg = "llamacpp",
    model: str | None = None,
    method: str = "auto",
    preset: str = "medium",
    format: str | None = None,
    prompt_col: str | None = None,
    response_col: str | None = None,
    id_col: str | None = None,
    on_error: str = "raise",
    cache: str | None = None,
    backend_options: dict[str, Any] | None = None,
    progress: bool = True,
    **settings: Any,
) -> T:
    """Score every row: the rows back with `id`, `confidence` (in [0, 1], low = likely bad),
    `consistency`, `self_reflection`, `clearft_method`, `clearft_evidence` and `clearft_error`.

    `data`: a pandas DataFrame, a datasets.Dataset or a list of dicts; the result is the same
    type (a DataFrame keeps its index and dtypes). The record format is detected from the
    columns, or given with `format` or `prompt_col` + `response_col` (as in `clearft score`).
    `backend`: a Backend object, or a name (llamacpp, the default embedded model; transformers;
    openai; ...) with `model`, `backend_options` and the call `cache` (None: the default
    .clearft-cache/calls.sqlite; "off": none). `method`, `preset` and `settings` (any
    ScoreConfig field: k, rounds, alpha, beta, similarity, compare, seed, batch_size, ...)
    are `clearft score`'s options. With on_error="skip" bad rows are left out of the result.
    """
    from clearft.scoring import make_config, score_file
    from clearft.scoring.config import ScoreConfig

    config = make_config(preset, method=method, **settings_of(ScoreConfig, settings, "scoring"))
    table = Table(data)
    scorer = Model(backend, model, backend_options, cache)
    with work_dir() as tmp:
        table.write(tmp / "data.jsonl")
        try:
            with table.errors():
                score_file(tmp / "data.jsonl", tmp / "scored.jsonl", scorer.open, config,
                           data_options=replace(data_options(format, prompt_col, response_col, id_col, on_error),
                                                file_type="jsonl"),
                           rejects_path=tmp / "rejected.jsonl",
                           output_file_type="jsonl", progress=progress)
        finally:
            scorer.close()
        out: T = table.read(tmp / "scored.jsonl")
        return out


@overload
def filter(scored: T, *, threshold: float | None = ..., fraction: float | None = ..., rule: str = ...,
           keep_failed: bool = ..., return_dropped: Literal[False] = ...) -> T: ...
@overload
def filter(scored: T, *, threshold: float | None = ..., fraction: float | None = ..., rule: str = ...,
           keep_failed: bool = ..., return_dropped: Literal[True]) -> tuple[T, T]: ...
def filter(
    scored: T,
    *,
    threshold: float | None = None,
    fraction: float | None = None,
    rule: str = "auto",
    keep_failed: bool = False,
    return_dropped: bool = False,
) -> T | tuple[T, T]:
    """Keep the rows whose confidence clears a threshold (CLEAR Auto-Filter), as `clearft filter`.

    `scored`: the output of clearft.score (any of the three types). The threshold is
    `threshold`, else the one that drops `fraction` of the rows (lowest first), else `rule`
    (auto: a two-Gaussian mixture cut; otsu; median: the paper's lower half). Rows that
    failed scoring are dropped unless `keep_failed`. Returns the kept rows, or with
    `return_dropped` (kept, dropped), the dropped ones with `clearft_keep` and
    `clearft_drop_reason`.
    """
    from clearft.filtering import filter_file

    if threshold is not None and fraction is not None:
        raise ClearftError("give threshold or fraction, not both")
    table = Table(scored, "scored")
    with work_dir() as tmp:
        table.write(tmp / "scored.jsonl")
        with table.errors():
            filter_file(tmp / "scored.jsonl", tmp / "kept.jsonl", threshold=threshold, fraction=fraction,
                        rule=rule, dropped_path=tmp / "dropped.jsonl", keep_failed=keep_failed,
                        file_type="jsonl")
        kept: T = table.read(tmp / "kept.jsonl")
        if not return_dropped:
            return kept
        dropped: T = table.read(tmp / "dropped.jsonl", DROP_COLUMNS)
        return kept, dropped


@overload
def correct(data: T, *, return_uncorrected: Literal[False] = ..., **options: Any) -> T: ...
@overload
def correct(data: T, *, return_uncorrected: Literal[True], **options: Any) -> tuple[T, T]: ...
def correct(
    data: T,
    *,
    backend: BackendArg = "llamacpp",
    model: str | None = None,
    candidate_model: str | None = None,
    candidate_backend: BackendArg = None,
    judge: str = "auto",
    threshold: float | None = None,
    all_rows: bool = False,
    context: Any = None,
    seed: int = 0,
    format: str | None = None,
    prompt_col: str | None = None,
    response_col: str | None = None,
    id_col: str | None = None,
    on_error: str = "raise",
    cache: str | None = None,
    backend_options: dict[str, Any] | None = None,
    progress: bool | Callable[[str], None] = True,
    return_uncorrected: bool = False,
    **settings: Any,
) -> T | tuple[T, T]:
    """Auto-Correct, as `clearft correct`: replace a target only when the judge is confident
    the new one is right; a replaced row keeps its old target in `clearft_original_response`
    and every considered row gets the audit column `clearft_correction`.

    `data`: the dropped rows of clearft.filter (every row is considered), or scored rows with
    `threshold` (rows below it are), or any rows with `all_rows`. `backend` and `model` are the
    model being curated, as in clearft.score (a Backend, or a name with `model` and
    `backend_options`): the estimator and llm judges judge with it. `candidate_model`: the
    fine-tuned model that writes candidates (a merged folder, a .gguf, or a name with
    `candidate_backend`), or `candidate_backend` as a Backend object; optional for label
    targets. `judge`: auto, evidence (label targets; needs no model), estimator or llm. The
    old names `judge_backend` and `judge_model` are still taken for `backend` and `model`.
    `context`: the whole dataset when `data` holds some of its rows (the evidence judge's
    classifier learns from every row of it). `settings`: any CorrectConfig field (eta,
    samples, estimator_preset, candidate_max_tokens, batch_size, ...).
    Returns the rows that go back into training (corrected rows and rows that were never
    low), or with `return_uncorrected` (those, the low rows left without a correction).
    """
    from clearft.backends.base import Backend
    from clearft.correction.candidates import check_curated_model
    from clearft.correction.config import CorrectConfig
    from clearft.correction.correct import uses_evidence
    from clearft.correction.on_engine import correct_file_on_engine
    from clearft.correction.records import read_examples
    from clearft.engines.local import in_process
    from clearft.evaluation import resolve_model

    backend = settings.pop("judge_backend", backend)  # the judge's old names (issue 14 item 4)
    model = settings.pop("judge_model", model)
    check_curated_model(model, candidate_model, "model", "candidate_model")
    try:
        config = CorrectConfig(judge=judge, seed=seed, **settings_of(CorrectConfig, settings, "correction"))
    except ValueError as exc:
        raise ClearftError(str(exc)) from None
    if candidate_model is not None and isinstance(candidate_backend, Backend):
        raise ClearftError("give candidate_model (with a candidate_backend name) or a candidate_backend object, "
                           "not both")
    if isinstance(candidate_backend, Backend):
        writer: Model | None = Model(candidate_backend, role="candidate_backend")
    elif candidate_model is not None:
        name, options = resolve_model(candidate_model, candidate_backend)
        writer = Model(name, options=options, cache=cache, role="candidate_backend")
    else:
        writer = None
    if writer is None and threshold is None:
        all_rows = True  # as the CLI: no model and no threshold, every row is considered
    opts = data_options(format, prompt_col, response_col, id_col, on_error)
    table = Table(data)
    curated = Model(backend, model, backend_options, cache)
    with work_dir() as tmp:
        table.write(tmp / "data.jsonl")
        try:
            with table.errors():
                examples = None
                if context is not None:
                    whole = Table(context, "context")
                    whole.write(tmp / "context.jsonl")
                    with whole.errors():
                        examples = read_examples(tmp / "context.jsonl", opts)[1]
                evidence = uses_evidence(config.judge, examples or read_examples(tmp / "data.jsonl", opts)[1])
                correct_file_on_engine(
                    tmp / "data.jsonl", tmp / "corrected.jsonl", None if evidence else curated.open(),
                    config, in_process(bool(progress)), candidate=writer.open() if writer else None,
                    threshold=threshold, all_rows=all_rows, uncorrected=tmp / "uncorrected.jsonl",
                    data_options=opts, progress=reporter(progress), context=examples,
                )
        finally:
            for opened in (writer, curated):
                if opened is not None:
                    opened.close()
        corrected: T = table.read(tmp / "corrected.jsonl", CORRECT_COLUMNS)
        if not return_uncorrected:
            return corrected
        left: T = table.read(tmp / "uncorrected.jsonl", CORRECT_COLUMNS)
        return corrected, left


__all__ = ["correct", "filter", "score"]
