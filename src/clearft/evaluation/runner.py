"""Evaluate models on a held-out test set: generate at temperature 0, extract, score.

The generation is an engine step (engines/steps.py: RequestStep): on the local engine with the
model opened here, or on an engine's replicas, which open it from its recipe."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend, GenerateRequest
from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.engines.base import BackendSpec, ChunkResult, Engine, backend_spec, chunked, run_chunks
from clearft.engines.local import in_process
from clearft.engines.steps import Call, RequestStep
from clearft.errors import ClearftError
from clearft.evaluation.metrics import METRICS, choose_metric, parse_options, score_prediction


@dataclass
class EvalResult:
    metric: str
    accuracy: float  # mean score over every row (rows that failed count as wrong)
    n: int
    rows: list[dict[str, Any]]  # per row: id, target, prediction, extracted, correct, error
    model: str = ""
    extras: dict[str, float] = field(default_factory=dict)  # e.g. f1, json_exact (means)
    errors: int = 0  # rows whose model call failed
    unparsed: int = 0  # rows whose reply held no recognisable answer
    max_tokens: int = 0
    backend: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_rows: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_rows:
            d.pop("rows")
        return d


def resolve_model(model: str, backend: str | None) -> tuple[str, dict[str, Any]]:
    """(backend name, constructor options) for a MODEL argument.

    "default" -> the embedded GGUF through llamacpp; a .gguf file (e.g. the model.gguf that
    finetune writes beside the merged weights) -> llamacpp; a folder -> transformers (so a
    fine-tuned folder and the plain base folder it started from are served alike); anything
    else needs an explicit backend (e.g. openai with a model name).
    """
    if backend:
        return backend, ({} if model == "default" else {"model": model})
    if model == "default":
        return "llamacpp", {}
    path = Path(model).expanduser()
    if path.is_dir():
        return "transformers", {"model": str(path)}
    if path.is_file() and path.suffix == ".gguf":
        return "llamacpp", {"model": str(path)}
    raise ClearftError(
        f"model {model!r} is not 'default', a model folder or a .gguf file; for a hosted or "
        "served model name, choose a backend (e.g. --backend openai)"
    )


def default_max_tokens(targets: Sequence[str], metric: str) -> int:
    """Room for the longest target (about 3.5 characters a token) plus some prose around it."""
    longest = max((len(t) for t in targets), default=0)
    budget = int(1.5 * math.ceil(longest / 3.5)) + 16
    floor = 32 if metric in ("choice", "label", "number") else 16
    return max(floor, min(1024, budget))


def model_spec(model: str, backend: str | None, cache: str | Path | None,
               options: dict[str, Any] | None = None) -> BackendSpec:
    """The recipe that opens MODEL (see resolve_model) in any replica (paths made absolute)."""
    name, opts = resolve_model(model, backend)
    opts.update(options or {})
    return backend_spec(name, None if cache is None else str(cache), opts)


def _open(model: str | Backend, backend: str | None, cache: str | Path | None,
          options: dict[str, Any]) -> tuple[Backend, bool]:
    """The backend to ask, and whether we opened it (and so must close it)."""
    if isinstance(model, Backend):
        return model, False
    name, opts = resolve_model(model, backend)
    opts.update(options)
    try:
        from clearft.backends.cache import open_backend
    except ImportError:  # the call cache is optional
        from clearft.backends.registry import load_backend

        return load_backend(name, **opts), True
    return open_backend(name, cache=cache, **opts), True


def evaluate(
    model: str | Backend,
    test_path: str | Path | Sequence[Example],
    *,
    backend: str | None = None,
    metric: str = "auto",
    limit: int | None = None,
    max_tokens: int | None = None,
    cache: str | Path | None = None,
    backend_options: dict[str, Any] | None = None,
    batch_size: int = 64,
    progress: bool = True,
    data_options: DataOptions | None = None,
    engine: Engine | None = None,
) -> EvalResult:
    """Accuracy of `model` on the test set, with the metric the targets need (or `metric`).

    `model`: "default", a model folder, a GGUF file, a name (with backend="openai"), or a
    Backend object. `data_options`: how to read `test_path` (format, prompt_col, ...).
    `engine`: where the replies are generated (default: here); its replicas open the model
    from its name, so `model` is then not a Backend.
    """
    examples = _load(test_path, limit, data_options)
    if not examples:
        raise ClearftError(f"the test set {test_path} has no rows")
    targets = [ex.response for ex in examples]
    chosen = choose_metric(targets) if metric == "auto" else metric
    if chosen not in METRICS:
        raise ClearftError(f"unknown metric {metric!r}; choose auto or one of: {', '.join(METRICS)}")
    tokens = max_tokens or default_max_tokens(targets, chosen)
    labels = sorted(set(targets)) if chosen == "label" else None

    if engine is not None:
        if isinstance(model, Backend):
            raise ClearftError("evaluate on an engine takes the model's name, not an open backend")
        spec = model_spec(model, backend, cache, backend_options)
        described = {**engine.profile(spec).description, "engine": engine.name}
        replies = _generate(engine, spec, examples, tokens, batch_size, progress)
    else:
        llm, opened = _open(model, backend, cache, dict(backend_options or {}))
        try:
            replies = _generate(in_process(), llm, examples, tokens, batch_size, progress)
            described = llm.describe()
        finally:
            if opened:
                llm.close()

    rows: list[dict[str, Any]] = []
    scores: list[float] = []
    extras_sum: dict[str, float] = {}
    errors = unparsed = 0
    for ex, (text, error) in zip(examples, replies, strict=True):
        options = parse_options(ex.record.get("options")) if ex.record else None
        row: dict[str, Any]
        if error is not None:
            errors += 1
            score = 0.0
            row = {"id": ex.id, "target": ex.response, "prediction": None, "extracted": None,
                   "correct": score, "error": error}
        else:
            rs = score_prediction(chosen, text, ex.response, options=options, labels=labels)
            score = rs.score
            unparsed += rs.extracted is None
            for k, v in rs.extras.items():
                extras_sum[k] = extras_sum.get(k, 0.0) + v
            row = {"id": ex.id, "target": ex.response, "prediction": text,
                   "extracted": rs.extracted, "correct": rs.score, **rs.extras, "error": None}
        scores.append(score)
        rows.append(row)
    n = len(rows)
    return EvalResult(
        metric=chosen,
        accuracy=sum(scores) / n,
        n=n,
        rows=rows,
        model=model if isinstance(model, str) else model.model_id,
        extras={k: v / n for k, v in extras_sum.items()},
        errors=errors,
        unparsed=unparsed,
        max_tokens=tokens,
        backend=described,
    )


def _load(test: str | Path | Sequence[Example], limit: int | None,
          data_options: DataOptions | None) -> list[Example]:
    if isinstance(test, (str, Path)):
        examples: list[Example] = []
        for ex in (data_options or DataOptions()).open(test):
            if limit is not None and len(examples) >= limit:
                break
            examples.append(ex)
        return examples
    return list(test)[:limit] if limit is not None else list(test)


def _generate(engine: Engine, model: Backend | BackendSpec, examples: list[Example], max_tokens: int,
              batch_size: int, progress: bool) -> list[tuple[str, str | None]]:
    """(reply, error) per example: greedy replies, `batch_size` requests a chunk."""
    from tqdm.auto import tqdm

    calls: list[Call] = [("generate", GenerateRequest(messages=ex.messages, temperature=0.0, max_tokens=max_tokens))
                         for ex in examples]
    chunks = chunked(calls, batch_size)
    replies: list[list[tuple[str, str | None]]] = [[] for _ in chunks]

    with tqdm(total=len(calls), desc="evaluating", unit="row", disable=not progress) as bar:
        def store(done: ChunkResult) -> None:
            replies[done.index] = [(c.texts[0], None) if c.ok and c.texts else ("", c.error or "no reply")
                                   for c in done.results]
            bar.update(len(done.results))

        run_chunks(engine, RequestStep(model), chunks, store)
    return [reply for chunk in replies for reply in chunk]


def evaluate_many(models: Sequence[str], test_path: str | Path, **options: Any) -> list[EvalResult]:
    """Evaluate several models on the same test set (one after another, each closed after)."""
    return [evaluate(m, test_path, **options) for m in models]


def results_table(results: Sequence[EvalResult]) -> str:
    """A markdown before/after table: one row per model."""
    extra_keys = sorted({k for r in results for k in r.extras})
    head = ["model", "metric", "accuracy", *extra_keys, "n", "unparsed", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.model, r.metric, f"{r.accuracy:.3f}",
                 *(f"{r.extras[k]:.3f}" if k in r.extras else "" for k in extra_keys),
                 str(r.n), str(r.unparsed), str(r.errors)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_rows(path: str | Path, result: EvalResult) -> None:
    """Per-row predictions as JSONL (atomic)."""
    from clearft.data import write_records

    write_records(path, [{"model": result.model, "metric": result.metric, **row} for row in result.rows])
