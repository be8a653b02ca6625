"""Cross-fitted confidence (GitHub issue 8): score each row with a model that never saw it.

Why: the small default model does not know most tasks zero-shot (BSDetector at chance on
FPB-30, SPEC 5). A model fine-tuned on data with 30% wrong targets still predicts the true
target far more often than the noise does, but only for rows it did not train on (it
memorises the wrong targets of its own training rows). So, as in confident learning:

1. split the rows into K folds (stratified by target when the targets are labels);
2. for each fold, fine-tune with clearft's own trainer on the other K-1 folds;
3. score the held-out fold with that fold model: the probability of the given target
   ("label-prob": normalised over the label set for labels -- or, above
   `max_normalised_labels` labels, the given label's own probability --, per-token for
   free text) and,
   if asked, BSDetector as specified (consistency + self-reflection) by the fold model;
4. for label targets, add the embedding classifier's out-of-fold probability of the given
   label ("embedding-classifier": a second view that never saw the row, seconds to compute);
5. combine: confidence = w * label-prob + (1 - w) * the mean of the other parts present.

Resumable like every other stage: fold models are finetune() folders with a DONE marker
under WORK_DIR/fold-<i>-of-<K>, and each fold's scores are written to
WORK_DIR/fold-<i>-of-<K>.scores.jsonl once finished (reused when the settings match).
WORK_DIR/folds.json maps every row id to its fold, so Auto-Correct can ask a row's own fold
model (which never saw that row's target) for a candidate.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend, GenerateRequest, LoglikelihoodRequest
from clearft.data.example import Example
from clearft.engines.base import BatchStep, ChunkResult, Engine, run_chunks
from clearft.engines.local import LocalEngine
from clearft.errors import ClearftError
from clearft.scoring.config import METHOD_ALIASES, ScoreConfig
from clearft.scoring.result import ScoreResult, Usage

PARTS = ("label-prob", "bsdetector", "embedding-classifier")
DEFAULT_PARTS = ("label-prob", "embedding-classifier")
FOLD_PARTS = ("label-prob", "bsdetector")  # the parts a fold model computes
METHOD = "crossfit"
FOLDS_FILE = "folds.json"
# Weight of the fold model's target probability in the combined score (the other parts
# share the rest). Fixed at 0.5 before the cross-dataset measurements; on FPB-30 the
# label-prob + BSDetector mix peaked there in both first measurements (30 and 40 rows), and
# label-prob + embedding-classifier at 0.5 beat both alone on FPB-30 and banking77-20
# (bench/results/crossfit.md), though weights from 0.3 to 0.7 lie within the noise.
DEFAULT_LABEL_WEIGHT = 0.5

Log = Callable[[str], None]


@dataclass(frozen=True)
class CrossFitConfig:
    folds: int = 2
    # The fold model's view and the embedding classifier's (label targets only; free text gets
    # label-prob alone): together they beat each alone on FPB-30, FPB-50 and BANKING77-20
    # (bench/results/crossfit.md). "bsdetector" by the fold models never helped there.
    parts: tuple[str, ...] = DEFAULT_PARTS
    label_weight: float = DEFAULT_LABEL_WEIGHT  # label-prob's share when other parts are on
    seed: int = 0
    max_label_values: int = 100  # targets are labels if they take at most this many values
    # Up to this many labels, label-prob is the given label's share of the softmax over all of
    # them (one log-likelihood request per label and row). Above it, the given label's own
    # probability (one request per row): filtering needs only the order of the rows, and the two
    # ranked 30 BANKING77 rows alike (same AUROC, rank correlation 0.98) at 1/74 of the cost.
    # Measured side by side in bench/results/crossfit.md (banking77-20).
    max_normalised_labels: int = 20
    # FinetuneConfig overrides for the fold models (the defaults are SPEC 5's measured
    # setting: LoRA r=16 on all linear layers, lr 1e-3, effective batch 16, one epoch).
    finetune: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        # (frozen) the old part name is read as the new one
        object.__setattr__(self, "parts", tuple(METHOD_ALIASES.get(p, p) for p in self.parts))
        if self.folds < 2:
            raise ClearftError(f"--cross-fit needs at least 2 folds, got {self.folds}")
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown or not self.parts:
            raise ClearftError(f"unknown cross-fit part(s) {unknown}; choose from: {', '.join(PARTS)}")
        if not 0.0 <= self.label_weight <= 1.0:
            raise ClearftError(f"label_weight must be in [0, 1], got {self.label_weight}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- pure parts


def _order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_folds(keys: Sequence[str], strata: Sequence[str] | None, folds: int, seed: int = 0) -> list[int]:
    """Fold (0..folds-1) of each row. Within each stratum the rows are ordered by a hash of
    (seed, key) and dealt round-robin, with the dealer carrying on across strata, so every
    fold gets its share of every label and fold sizes differ by at most one. Depends only on
    the keys, never on the rows' order in the file."""
    groups: dict[str, list[int]] = {}
    for i, _ in enumerate(keys):
        groups.setdefault(strata[i] if strata is not None else "", []).append(i)
    out = [0] * len(keys)
    dealer = 0
    for stratum in sorted(groups):
        for i in sorted(groups[stratum], key=lambda j: _order_key(seed, keys[j])):
            out[i] = dealer % folds
            dealer += 1
    return out


def label_set(responses: Sequence[str], max_values: int = 100) -> list[str] | None:
    """The distinct targets when they look like labels (few short values that recur), else None."""
    from clearft.scoring.label_model import looks_like_labels

    stripped = [r.strip() for r in responses]
    if not looks_like_labels(stripped, max_values, min_rows=2):
        return None
    return sorted(set(stripped))


def normalised_label_probs(logprobs: dict[str, float]) -> dict[str, float]:
    """Softmax of the labels' log-likelihoods: P(label | prompt) within the label set."""
    top = max(logprobs.values())
    exps = {label: math.exp(lp - top) for label, lp in logprobs.items()}
    total = sum(exps.values())
    return {label: v / total for label, v in exps.items()}


def per_token_probability(logprob: float, n_tokens: int) -> float:
    """exp(mean token log-probability): in (0, 1], comparable across target lengths."""
    return math.exp(logprob / max(1, n_tokens))


def combine(parts: dict[str, float | None], label_weight: float) -> float | None:
    """label-prob weighs `label_weight`, the other parts share the rest equally; weights of
    missing parts (None: not asked for, not applicable, or failed) go to the present ones."""
    present = {name: v for name, v in parts.items() if v is not None}
    if not present:
        return None
    others = [v for name, v in present.items() if name != "label-prob"]
    if "label-prob" not in present:
        return sum(others) / len(others)
    if not others:
        return present["label-prob"]
    return label_weight * present["label-prob"] + (1.0 - label_weight) * sum(others) / len(others)


# ---------------------------------------------------------------- target probability


def score_target_probability(
    examples: Sequence[Example], backend: Backend, labels: list[str] | None, usage: Usage,
    normalise: bool = True,
) -> list[tuple[float | None, dict[str, Any]]]:
    """Per row: (probability of its given target, evidence). For labels, one log-likelihood
    request per label and the given label's share of the softmax (`normalise`), or the given
    label's own probability (one request); for free text the per-token probability."""
    backend.require("loglikelihood", purpose="cross-fitted target probability")
    scored_labels = labels if labels and normalise else None  # every label is asked for
    requests = []
    for ex in examples:
        targets = scored_labels or [ex.response.strip() if labels else ex.response]
        requests += [LoglikelihoodRequest(ex.messages, t) for t in targets]
    results = backend.loglikelihood(requests)
    usage.add_loglikelihoods(results)
    width = len(scored_labels) if scored_labels else 1
    out: list[tuple[float | None, dict[str, Any]]] = []
    for row, ex in enumerate(examples):
        mine = results[row * width:(row + 1) * width]
        errors = [r.error for r in mine if not r.ok]
        if errors:
            out.append((None, {"error": "; ".join(e or "" for e in errors)}))
        elif scored_labels:
            probs = normalised_label_probs({lb: r.logprob for lb, r in zip(scored_labels, mine, strict=True)})
            predicted = max(probs, key=lambda lb: probs[lb])
            out.append((probs[ex.response.strip()], {"label_probs": probs, "predicted_label": predicted}))
        elif labels:
            r = mine[0]
            out.append((math.exp(r.logprob), {"label_prob_mode": "given label", "logprob": r.logprob,
                                              "n_tokens": r.n_tokens}))
        else:
            r = mine[0]
            out.append((per_token_probability(r.logprob, r.n_tokens), {"logprob": r.logprob, "n_tokens": r.n_tokens}))
    return out


def normalises_over_labels(labels: Sequence[str] | None, cf: CrossFitConfig) -> bool:
    return labels is not None and 0 < len(labels) <= cf.max_normalised_labels


# ---------------------------------------------------------------- fold models

Train = Callable[[list[Example], Path], Path]  # (training rows, fold dir) -> model folder
OpenModel = Callable[[Path], Backend]  # model folder -> backend serving it


def default_trainer(finetune_overrides: dict[str, Any], base_model: str | Path | None = None) -> Train:
    """clearft's own trainer with the fold settings (resumable: DONE marker)."""
    def train(rows: list[Example], out_dir: Path) -> Path:
        from clearft.training import FinetuneConfig, finetune

        return finetune(rows, out_dir, FinetuneConfig.from_dict(finetune_overrides), base_model=base_model)

    return train


def default_opener(backend: str | None = None, cache: str | Path | None = None) -> OpenModel:
    """A fold model through llama.cpp when finetune wrote model.gguf, else transformers."""
    def open_model(model_dir: Path) -> Backend:
        from clearft.backends.cache import open_backend

        gguf = model_dir / "model.gguf"
        name = backend or ("llamacpp" if gguf.is_file() else "transformers")
        model = gguf if name == "llamacpp" and gguf.is_file() else model_dir
        return open_backend(name, cache=cache, model=str(model))

    return open_model


def fold_dir(work_dir: Path, fold: int, folds: int) -> Path:
    return work_dir / f"fold-{fold + 1}-of-{folds}"


def _scores_path(work_dir: Path, fold: int, folds: int) -> Path:
    return work_dir / f"fold-{fold + 1}-of-{folds}.scores.jsonl"


def _fold_fingerprint(cf: CrossFitConfig, config: ScoreConfig, model_dir: Path, held_out: list[Example]) -> str:
    # Only what the fold model computes: adding embedding-classifier reuses finished folds.
    done = model_dir / "DONE"
    blob = json.dumps({
        "crossfit": {**cf.to_dict(), "parts": [p for p in cf.parts if p in FOLD_PARTS]},
        "score": {k: v for k, v in config.to_dict().items() if k != "batch_size"},
        "model": done.read_text().strip() if done.is_file() else str(model_dir),
        "rows": [[ex.id, ex.response] for ex in held_out],
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_fold_scores(path: Path, fp: str) -> list[ScoreResult] | None:
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or json.loads(lines[0]).get("fingerprint") != fp:
        return None
    return [ScoreResult.from_columns(json.loads(line)) for line in lines[1:]]


def _save_fold_scores(path: Path, fp: str, results: list[ScoreResult]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"fingerprint": fp}) + "\n")
        for r in results:
            f.write(json.dumps(r.columns(), ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def _score_fold(
    held_out: list[Example], backend: Backend, labels: list[str] | None, cf: CrossFitConfig,
    config: ScoreConfig, fold: int, usage: Usage, similarity: Any,
) -> list[ScoreResult]:
    probs: list[tuple[float | None, dict[str, Any]]] = [(None, {}) for _ in held_out]
    if "label-prob" in cf.parts:
        probs = []
        for start in range(0, len(held_out), config.batch_size):
            probs += score_target_probability(held_out[start:start + config.batch_size], backend, labels, usage,
                                              normalise=normalises_over_labels(labels, cf))
    bsd: list[ScoreResult | None] = [None] * len(held_out)
    if "bsdetector" in cf.parts:
        from clearft.scoring.engine import score_examples

        bsd = []
        for start in range(0, len(held_out), config.batch_size):
            bsd += score_examples(held_out[start:start + config.batch_size], backend, config, usage,
                                  similarity, method="bsdetector")
    out = []
    for ex, (prob, evidence), b in zip(held_out, probs, bsd, strict=True):
        b_conf = b.confidence if b is not None else None
        errors = [e for e in (evidence.get("error"), b.error if b is not None else None) if e]
        ev = {"fold": fold, "label_prob": prob, "bsdetector": b_conf, **evidence,
              "unknown": int((b.evidence if b is not None else {}).get("unknown", 0) or 0)}
        if b is not None:
            ev["bsdetector_evidence"] = b.evidence
        out.append(ScoreResult(
            ex.id, combine({"label-prob": prob, "bsdetector": b_conf}, cf.label_weight),
            consistency=b.consistency if b is not None else None,
            self_reflection=b.self_reflection if b is not None else None, method=METHOD, evidence=ev,
            error="; ".join(errors) if errors else None,
        ))
    return out


def embedding_part(examples: list[Example], labels: list[str] | None, config: ScoreConfig,
                   log: Log) -> list[dict[str, Any]] | None:
    """Per row, the embedding classifier's out-of-fold probability of the given label and its
    prediction; None where the targets are not labels (nothing to classify)."""
    if labels is None:
        log("cross-fit: targets are not labels, so the embedding-classifier part is left out")
        return None
    from clearft.errors import MissingDependencyError
    from clearft.scoring.label_model import score_labels

    try:
        scored = score_labels(examples, config)
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{exc} (or leave the part out: --cross-fit-parts label-prob)") from exc
    return [{"embedding_classifier": r.confidence, "embedding_predicted_label": r.evidence["predicted_label"]}
            for r in scored]


def with_embedding(result: ScoreResult, embedding: dict[str, Any] | None, cf: CrossFitConfig) -> ScoreResult:
    """The fold's result with the embedding part added and the parts combined again."""
    ev = {**result.evidence, **(embedding or {})}
    confidence = combine({"label-prob": ev.get("label_prob"), "bsdetector": ev.get("bsdetector"),
                          "embedding-classifier": ev.get("embedding_classifier", ev.get("embedding_knn"))}, cf.label_weight)
    return replace(result, confidence=confidence, evidence=ev,
                   error=result.error if confidence is None else None)


@dataclass(frozen=True)
class FoldJob:
    fold: int
    train_rows: list[Example]
    held_out: list[Example]


class FoldStep(BatchStep):
    """One fold per item: fine-tune its model (or find it finished), score its held-out rows
    (or find the fold's score file), write that file. A BatchStep, so the folds run on any
    engine: one after another here, or side by side on Ray replicas that each reserve the
    CPUs/GPUs a fine-tune needs. `work` must be storage every replica shares."""

    chunks_in_flight_per_replica = 1  # one fold per replica at a time: side by side, not queued

    def __init__(self, work: Path, cf: CrossFitConfig, config: ScoreConfig, labels: list[str] | None,
                 train: Train, open_model: OpenModel) -> None:
        self.work, self.cf, self.config, self.labels = work, cf, config, labels
        self.train, self.open_model = train, open_model
        self._similarity: Any = None

    def setup(self) -> None:
        if "bsdetector" in self.cf.parts and self.config.k:
            from clearft.scoring.similarity import get_similarity

            self._similarity = get_similarity(self.config.similarity, self.config.nli_model)

    def run(self, items: list[FoldJob], usage: Usage) -> list[tuple[list[ScoreResult], bool]]:
        return [self.run_fold(job, usage) for job in items]

    def run_fold(self, job: FoldJob, usage: Usage) -> tuple[list[ScoreResult], bool]:
        """(the fold's scores, whether they were reused from its score file)."""
        model_dir = self.train(job.train_rows, fold_dir(self.work, job.fold, self.cf.folds))
        fp = _fold_fingerprint(self.cf, self.config, model_dir, job.held_out)
        path = _scores_path(self.work, job.fold, self.cf.folds)
        results = _load_fold_scores(path, fp)
        if results is not None:
            return results, True
        backend = self.open_model(model_dir)
        try:
            results = _score_fold(job.held_out, backend, self.labels, self.cf, self.config, job.fold, usage,
                                  self._similarity)
        finally:
            backend.close()
        _save_fold_scores(path, fp, results)
        return results, False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_similarity": None}  # a replica loads its own


def crossfit_examples(
    examples: Sequence[Example],
    work_dir: str | Path,
    cf: CrossFitConfig,
    config: ScoreConfig,
    *,
    train: Train | None = None,
    open_model: OpenModel | None = None,
    usage: Usage | None = None,
    log: Log | None = None,
    engine: Engine | None = None,
) -> list[ScoreResult]:
    """Cross-fitted scores of `examples` (same order). Fold models and finished folds in
    `work_dir` are reused; `train` and `open_model` default to clearft's trainer and backends;
    `engine` (default: this process, fold after fold) runs the folds."""
    cf.validate()
    examples = list(examples)
    if len(examples) < cf.folds:
        raise ClearftError(f"--cross-fit {cf.folds} needs at least {cf.folds} rows, got {len(examples)}")
    work = Path(work_dir).resolve()  # replicas elsewhere must find the same folder
    work.mkdir(parents=True, exist_ok=True)
    usage = usage if usage is not None else Usage()
    log = log or (lambda _msg: None)
    labels = label_set([ex.response for ex in examples], cf.max_label_values)
    keys = [f"{ex.line}:{ex.id}" for ex in examples]
    folds = assign_folds(keys, [ex.response.strip() for ex in examples] if labels else None, cf.folds, cf.seed)
    _write_folds(work, examples, folds, cf.folds)
    embedding = embedding_part(examples, labels, config, log) if "embedding-classifier" in cf.parts else None

    held_idx = [[i for i, f in enumerate(folds) if f == fold] for fold in range(cf.folds)]
    jobs = [FoldJob(fold, [examples[i] for i, f in enumerate(folds) if f != fold],
                    [examples[i] for i in held_idx[fold]]) for fold in range(cf.folds)]
    for job in jobs:
        log(f"cross-fit fold {job.fold + 1}/{cf.folds}: fine-tune on {len(job.train_rows)} rows, "
            f"score {len(job.held_out)}")
    step = FoldStep(work, cf, config, labels, train or default_trainer(cf.finetune), open_model or default_opener())
    engine = engine or LocalEngine()
    by_row: dict[int, ScoreResult] = {}

    def finished(chunk: ChunkResult) -> None:
        job = jobs[chunk.index]
        (results, reused), = chunk.results
        usage.merge(chunk.usage)
        by_row.update(zip(held_idx[job.fold], results, strict=True))
        how = f"scores reused from {_scores_path(work, job.fold, cf.folds)}" if reused else "scored"
        log(f"cross-fit fold {job.fold + 1}/{cf.folds}: {how}"
            + (f" ({chunk.worker})" if engine.name != "local" else ""))

    run_chunks(engine, step, [[job] for job in jobs], finished, log)
    return [with_embedding(by_row[i], embedding[i] if embedding else None, cf) for i in range(len(examples))]


def _write_folds(work: Path, examples: list[Example], folds: list[int], k: int) -> None:
    data = {"folds": k, "model_dirs": [fold_dir(work, f, k).name for f in range(k)],
            "fold_of": {ex.id: f for ex, f in zip(examples, folds, strict=True)}}
    tmp = work / (FOLDS_FILE + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, work / FOLDS_FILE)


def read_folds(work_dir: str | Path) -> tuple[dict[str, Path], int]:
    """(row id -> its fold model folder, K) of a finished cross-fit, for Auto-Correct."""
    work = Path(work_dir)
    path = work / FOLDS_FILE
    if not path.is_file():
        raise ClearftError(f"{work} holds no cross-fit ({FOLDS_FILE} missing)")
    data = json.loads(path.read_text(encoding="utf-8"))
    dirs = [work / name for name in data["model_dirs"]]
    return {rid: dirs[f] for rid, f in data["fold_of"].items()}, int(data["folds"])


def messages_key(messages: Sequence[dict[str, str]]) -> str:
    return json.dumps(list(messages), sort_keys=True, ensure_ascii=False)


class FoldRoutingBackend(Backend):
    """Sends each generate request whose prompt is routed to that prompt's fold model, and
    every other request to `fallback`: Auto-Correct's candidate generator, unchanged, then
    gets a candidate for a row from a model that never saw the row's target. Fold models are
    opened on first use and kept until close()."""

    name = "crossfit-router"

    def __init__(self, fallback: Backend, route: dict[str, Path], open_model: OpenModel) -> None:
        self.fallback = fallback
        self.route = route  # messages_key(prompt) -> fold model folder
        self.open_model = open_model
        self._open: dict[Path, Backend] = {}

    @property
    def capabilities(self) -> Any:
        return self.fallback.capabilities

    @property
    def model_id(self) -> str:
        return f"{self.fallback.model_id}+crossfit({len(set(self.route.values()))} folds)"

    def _backend(self, model_dir: Path | None) -> Backend:
        if model_dir is None:
            return self.fallback
        if model_dir not in self._open:
            self._open[model_dir] = self.open_model(model_dir)
        return self._open[model_dir]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Any]:
        groups: dict[Path | None, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(self.route.get(messages_key(req.messages)), []).append(i)
        out: list[Any] = [None] * len(requests)
        for model_dir, idx in groups.items():
            for i, comp in zip(idx, self._backend(model_dir).generate([requests[i] for i in idx]), strict=True):
                out[i] = comp
        return out

    def close(self) -> None:
        for backend in self._open.values():
            backend.close()
        self._open.clear()
        self.fallback.close()


def fold_routes(examples: Sequence[Example], work_dir: str | Path) -> dict[str, Path]:
    """messages_key(prompt) -> fold model folder, for the examples the cross-fit covered."""
    fold_of, _ = read_folds(work_dir)
    return {messages_key(ex.messages): fold_of[ex.id] for ex in examples if ex.id in fold_of}


def fold_candidates(
    examples: Sequence[Example], work_dir: str | Path, *, open_model: OpenModel | None = None,
    max_tokens: int = 256, seed: int = 0,
) -> list[str | None]:
    """Auto-Correct candidates (temperature 0) for each row from its own fold model, which
    never saw the row's target. None for rows the cross-fit did not cover or that failed."""
    fold_of, _ = read_folds(work_dir)
    open_model = open_model or default_opener()
    out: list[str | None] = [None] * len(examples)
    by_model: dict[Path, list[int]] = {}
    for i, ex in enumerate(examples):
        if ex.id in fold_of:
            by_model.setdefault(fold_of[ex.id], []).append(i)
    for model_dir, rows in sorted(by_model.items()):
        backend = open_model(model_dir)
        try:
            comps = backend.generate([GenerateRequest(examples[i].messages, max_tokens=max_tokens, seed=seed)
                                      for i in rows])
        finally:
            backend.close()
        for i, comp in zip(rows, comps, strict=True):
            out[i] = comp.texts[0] if comp.ok and comp.texts else None
    return out


# ---------------------------------------------------------------- cost


def estimate_crossfit(examples: Sequence[Example], cf: CrossFitConfig, config: ScoreConfig) -> dict[str, Any]:
    """Fine-tunes, training steps and model calls a cross-fit takes, before it starts."""
    from clearft.scoring.engine import estimate
    from clearft.training import FinetuneConfig

    ft = FinetuneConfig.from_dict(cf.finetune)
    n = len(examples)
    labels = label_set([ex.response for ex in examples], cf.max_label_values)
    train_rows = [n - n // cf.folds - (1 if f < n % cf.folds else 0) for f in range(cf.folds)]
    per_step = ft.batch_size * ft.grad_accum
    steps = [min(ft.max_steps or 10**9, math.ceil(ft.epochs * math.ceil(r / per_step))) for r in train_rows]
    est: dict[str, Any] = {
        "rows": n, "fine_tunes": cf.folds, "training_rows_per_fold": train_rows,
        "training_steps": sum(steps), "labels": len(labels) if labels else None,
        "loglikelihood_requests": (n * (len(labels) if labels and normalises_over_labels(labels, cf) else 1)
                                   if "label-prob" in cf.parts else 0),
        "generated_samples": 0, "requests": 0, "prompt_tokens": 0, "max_completion_tokens": 0,
        "embedded_rows": n if "embedding-classifier" in cf.parts and labels else 0,
    }
    est["requests"] = est["loglikelihood_requests"]
    if "label-prob" in cf.parts:  # each request carries its row's prompt (4 characters a token)
        per_row = est["loglikelihood_requests"] // max(1, n)
        est["prompt_tokens"] = per_row * sum(len(ex.prompt_text) + len(ex.response) for ex in examples) // 4
    if "bsdetector" in cf.parts:
        b = estimate(examples, "bsdetector", config, None)
        for key in ("requests", "generated_samples", "prompt_tokens", "max_completion_tokens"):
            est[key] += b[key]
    est["backend_calls"] = cf.folds * math.ceil(n / cf.folds / config.batch_size) * len(cf.parts)
    return est


def estimate_lines(est: dict[str, Any]) -> list[str]:
    return [
        f"dry run: {est['rows']} rows, method {METHOD} ({est['fine_tunes']} folds)",
        f"  fine-tunes: {est['fine_tunes']} (training rows per fold {est['training_rows_per_fold']}, "
        f"{est['training_steps']} training steps in all)",
        f"  model calls: {est['requests']} requests ({est['generated_samples']} generated samples, "
        f"{est['loglikelihood_requests']} log-likelihood requests), in about {est['backend_calls']} "
        "batched backend calls",
        f"  tokens: about {est['prompt_tokens']} prompt + at most {est['max_completion_tokens']} generated",
    ] + ([f"  embedding-classifier: {est['embedded_rows']} prompts embedded (sentence encoder, no LLM calls)"]
         if est.get("embedded_rows") else [])


# ---------------------------------------------------------------- files


def default_work_dir(output: str | Path) -> Path:
    return Path(f"{output}.crossfit")


def crossfit_score_file(
    input: str | Path,
    output: str | Path,
    cf: CrossFitConfig,
    config: ScoreConfig,
    *,
    work_dir: str | Path | None = None,
    train: Train | None = None,
    open_model: OpenModel | None = None,
    output_file_type: str | None = None,
    dry_run: bool = False,
    log: Log | None = None,
    engine: Engine | None = None,
    **data_options: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Cross-fitted `clearft score`: every input record plus the score columns, written to
    `output`, settings to `<output>.meta.json`. Returns (summary or estimate, printable lines)."""
    import time

    from clearft.data import open_dataset, write_records
    from clearft.scoring.runfile import meta_path

    cf.validate()
    started = time.monotonic()
    options = {k: v for k, v in data_options.items() if v is not None}
    ds = open_dataset(input, **options)
    ds.validate()
    examples = list(ds)  # fold assignment and the label set need every row
    if dry_run:
        est = estimate_crossfit(examples, cf, config)
        return est, estimate_lines(est)
    usage = Usage()
    work = Path(work_dir) if work_dir else default_work_dir(output)
    results = crossfit_examples(examples, work, cf, config, train=train, open_model=open_model,
                                usage=usage, log=log, engine=engine)
    write_records(str(output), ({**ex.record, **r.columns()} for ex, r in zip(examples, results, strict=True)),
                  file_type=output_file_type)
    failed = sum(r.error is not None for r in results)
    summary = {"output": str(output), "method": METHOD, "rows": len(examples), "scored": len(examples) - failed,
               "failed": failed, "seconds": round(time.monotonic() - started, 1), "usage": asdict(usage),
               "work_dir": str(work), "engine": engine.name if engine else "local"}
    meta = {"input": str(input), "method": METHOD, "crossfit": cf.to_dict(), "config": config.to_dict(),
            "summary": summary}
    meta_path(output).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    lines = [f"scored {summary['scored']} of {len(examples)} rows with {METHOD} ({cf.folds} folds, "
             f"parts {', '.join(cf.parts)}; {failed} failed) in {summary['seconds']} s",
             f"  model calls: {usage.calls} batched calls, {usage.requests} requests; fold models in {work}",
             f"  wrote {output}"]
    return summary, lines
