"""Auto-Correct over examples and files: candidates, judging, the replace rule, audit columns.

Which rows are *low* (filtered out, SPEC 2.4): every row of a dropped file, or the rows of a
scored file whose confidence is below a threshold. Low rows get a candidate; with
``all_rows`` every row does. The output holds the rows that go back into training: rows that
were never low (unchanged unless confidently corrected) and low rows that got a confident
correction. Low rows without one stay out, in a side file, with the judge's evidence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.correction import evidence as ev
from clearft.correction import free_text as ft
from clearft.correction import verdicts as v
from clearft.correction.candidates import (
    Candidate,
    conform,
    generate_candidates,
    label_set,
    why_no_candidate,
    within_labels,
)
from clearft.correction.config import CorrectConfig, evidence_form
from clearft.correction.evidence import LabelDecision
from clearft.correction.free_text import TextDecision
from clearft.correction.judge import JudgeResult, Pair, judge_pairs
from clearft.correction.records import (
    CANDIDATE_COL,
    CANDIDATE_ERROR_COL,
    CORRECTION_COL,
    ORIGINAL_COL,
    candidate_of,
    conformed,
    default_side_path,
    low_rows,
    read_examples,
)
from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.errors import ClearftError


@dataclass
class Correction:
    id: str
    candidate: str | None
    replaced: bool
    reason: str
    judge: JudgeResult | None = None
    error: str | None = None  # why there is no usable candidate
    # The evidence judge's decision (label targets): its label, confidence and views.
    evidence: LabelDecision | None = None
    # The estimator judge's decision (free text): both confidences and the samples' answers.
    text: TextDecision | None = None

    def audit(self) -> dict[str, Any]:
        """The `clearft_correction` column: enough to audit the decision and undo it."""
        j = self.judge
        e = self.evidence
        if self.text is not None:
            return {"judge": ft.ESTIMATOR, "candidate": self.candidate, "replaced": self.replaced,
                    "reason": self.reason, **self.text.audit(),
                    "errors": [self.error] if self.error else []}
        if e is not None:
            return {
                "judge": "evidence", "candidate": self.candidate, "replaced": self.replaced,
                "reason": self.reason, "label": e.label, "confidence": e.confidence,
                "views": e.views, "errors": [self.error] if self.error else [],
            }
        return {
            "judge": "llm",
            "candidate": self.candidate,
            "replaced": self.replaced,
            "reason": self.reason,
            "judge_confidence": j.confidence if j else None,
            "preference": j.preference if j else None,
            "consistency": j.consistency if j else None,
            "reflection": j.reflection if j else None,
            "verdicts": j.verdicts if j else [],
            "explanation": j.explanation if j else "",
            "unknown": j.unknown if j else 0,
            "errors": (j.errors if j else []) + ([self.error] if self.error else []),
        }


@dataclass
class CorrectSummary:
    rows: int = 0
    low: int = 0
    judged: int = 0
    replaced: int = 0
    written: int = 0  # rows in the output
    left_out: int = 0  # low rows without a confident correction
    reasons: dict[str, int] = field(default_factory=dict)
    output: str = ""
    uncorrected: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def normalise(text: str) -> str:
    """For "is the candidate the same as the target": case, spacing, a final full stop."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().casefold()


def judge_candidates(
    examples: Sequence[Example],
    candidates: Sequence[Candidate],
    judge_backend: Backend,
    config: CorrectConfig,
) -> list[Correction]:
    """Judge each example's candidate against its target and apply the replace rule."""
    out, to_judge = _unjudgeable(examples, candidates)
    pairs = [Pair(examples[i].prompt_text, examples[i].response, candidates[i].text or "")
             for i in to_judge]
    for i, result in zip(to_judge, judge_pairs(pairs, judge_backend, config), strict=True):
        reason = v.decide(result.preference, result.confidence, config.eta_for("llm"))
        out[i] = Correction(examples[i].id, candidates[i].text, reason == v.REPLACED, reason, result)
    return [c for c in out if c is not None]


def _unjudgeable(examples: Sequence[Example], candidates: Sequence[Candidate]) -> tuple[list[Correction | None], list[int]]:
    """(the verdict of each row that needs no judge — no usable candidate, or the target
    itself — else None; the positions left to judge)."""
    out: list[Correction | None] = [None] * len(examples)
    to_judge: list[int] = []
    for i, (ex, cand) in enumerate(zip(examples, candidates, strict=True)):
        if cand.text is None or not cand.text.strip():
            out[i] = Correction(ex.id, cand.text, False, why_no_candidate(cand.error), error=cand.error)
        elif normalise(cand.text) == normalise(ex.response):
            out[i] = Correction(ex.id, cand.text, False, v.CANDIDATE_SAME)
        else:
            to_judge.append(i)
    return out, to_judge


def estimator_corrections(examples: Sequence[Example], candidates: Sequence[Candidate], backend: Backend,
                          config: CorrectConfig, kind: str | None) -> list[Correction]:
    """The estimator judge (correction/free_text.py): score the target and the candidate of
    each row with BSDetector on the base model, then apply the gate."""
    from clearft.scoring import make_config, score_examples

    out, to_judge = _unjudgeable(examples, candidates)
    score_config = make_config(config.estimator_preset, method="bsdetector", seed=config.seed)
    # Target and candidate side by side: one row id, one prompt, so the samples are shared.
    rows = [r for i in to_judge for r in (examples[i], replace(examples[i], response=candidates[i].text or ""))]
    results = []
    for start in range(0, len(rows), 2 * config.batch_size):
        results.extend(score_examples(rows[start:start + 2 * config.batch_size], backend, score_config,
                                      method="bsdetector"))
    for n, i in enumerate(to_judge):
        target, cand = results[2 * n], results[2 * n + 1]
        samples = cand.evidence.get("samples") or []
        answers = [ft.final_answer(s.get("answer") or s.get("text"), kind) if s.get("answer") is not None else None
                   for s in samples]
        decision = ft.decide_text(target.confidence, cand.confidence,
                                  ft.final_answer(candidates[i].text, kind), answers, kind is not None, config.eta_for(ft.ESTIMATOR))
        error = "; ".join(e for e in (target.error, cand.error) if e) or None
        out[i] = Correction(examples[i].id, candidates[i].text, decision.replaced,
                            v.REPLACED if decision.replaced else decision.reason, error=error, text=decision)
    return [c for c in out if c is not None]


def resolve_judge(judge: str, context: Sequence[Example]) -> str:
    """Which judge a setting stands for on this data: "auto" is the evidence judge for label
    targets (one label-space rule, on the classes the targets stand for: ARC's letters are
    answers, not classes) and the estimator judge for everything else."""
    from clearft.scoring.label_space import class_space

    if judge in ("llm", ft.ESTIMATOR):
        return judge
    labels = class_space(context)
    if judge == "evidence" and labels is None:
        raise ClearftError("--judge evidence needs class-label targets (few distinct short targets, "
                           "each recurring); use --judge estimator or llm for free-text targets")
    return "evidence" if labels is not None else ft.ESTIMATOR


def uses_evidence(judge: str, context: Sequence[Example]) -> bool:
    """Does this judge setting use the evidence judge (no judge model) on this data?"""
    return resolve_judge(judge, context) == "evidence"


def evidence_corrections(
    ds: Any, examples: Sequence[Example], candidates: Sequence[Candidate],
    posteriors: dict[str, dict[str, float]], config: CorrectConfig, with_model: bool,
    label_model: str | None = None,
) -> list[Correction]:
    """The evidence judge's verdict for each row (correction/evidence.py): the classifier's
    posterior and, where a model wrote a candidate, its vote."""
    from clearft.correction.label_views import class_of, fold_model_view

    out: list[Correction] = []
    for ex, cand in zip(examples, candidates, strict=True):
        post = posteriors.get(ex.id)
        fold = fold_model_view(ex)
        views: dict[str, dict[str, float] | None] = {ev.CLASSIFIER: post, ev.FOLD_MODEL: fold}
        if with_model:
            classes = sorted(post or fold or {})
            views[ev.MODEL] = ev.vote(class_of(ex, cand.text) if cand.text else None, classes)
        decision = ev.decide_label(class_of(ex, ex.response), views, config.eta_for("evidence", label_model),
                                  config.gate_for_evidence(label_model))
        text = None
        error = cand.error
        if decision.label is not None:
            text, problem = conform(ds, ex, decision.label)
            if text is None:  # the format cannot hold the label (should not happen for labels)
                decision = replace(decision, reason=ev.NOT_CONFIDENT)
                error = problem
        reason = v.REPLACED if decision.replaced else decision.reason
        out.append(Correction(ex.id, text, decision.replaced, reason, error=error, evidence=decision))
    return out


def correct_examples(
    examples: Sequence[Example],
    candidate_backend: Backend,
    judge_backend: Backend,
    config: CorrectConfig | None = None,
) -> list[Correction]:
    """Auto-Correct in memory: greedy candidates from the fine-tuned model, then the judge."""
    config = config or CorrectConfig()
    cands = generate_candidates(examples, candidate_backend, max_tokens=config.candidate_max_tokens,
                                seed=config.seed, batch_size=config.batch_size)
    return judge_candidates(examples, cands, judge_backend, config)


def audited_record(base: dict[str, Any], correction: Correction, original: str) -> dict[str, Any]:
    rec = dict(base)
    rec[ORIGINAL_COL] = original if correction.replaced else None
    rec[CORRECTION_COL] = correction.audit()
    return rec


def label_model_cache(output: str | Path) -> Path:
    """Where the evidence judge keeps its label model's finished folds (a rerun reuses them)."""
    return Path(f"{output}.label-model")


def correct_file(
    data: str | Path,
    output: str | Path,
    judge_backend: Backend | None,
    config: CorrectConfig | None = None,
    *,
    candidate_backend: Backend | None = None,
    threshold: float | None = None,
    all_rows: bool = False,
    uncorrected: str | Path | None = None,
    data_options: DataOptions | None = None,
    progress: Callable[[str], None] | None = None,
    labels: Sequence[str] | None = None,
    context: Sequence[Example] | None = None,
    label_cache: str | Path | None = None,
    memo: dict[str, Any] | None = None,
) -> CorrectSummary:
    """Auto-Correct a file and write the rows that go back into training to `output`.

    Candidates come from `candidate_backend`, or, when it is None, from a `clearft_candidate`
    column already in `data` (the loop's candidates file). The judge is `config.judge`:
    "evidence" (the default for label targets, correction/evidence.py) weighs the embedding
    classifier trained out-of-fold on `context` (the whole dataset; default `data`) and the
    candidate, if any, and needs no judge model; "llm" is the paper's base-model judge. Low rows left without a confident
    correction go to `uncorrected` (default: <output stem>.uncorrected.<ext>). When the
    targets are class labels, a candidate must be one of them: those of `data`, plus `labels`
    (the whole dataset's targets, when `data` holds only the dropped rows). The evidence
    judge keeps its label model's finished folds in `label_cache` (default beside `output`).
    `memo`: a dict kept by a caller that runs this several times on the same data (the passes
    of a replay, correction/on_engine.py), so the label model is fitted once.
    """
    from clearft.data import write_records

    config = config or CorrectConfig()
    ds, examples = read_examples(data, data_options)
    low = low_rows(examples, threshold, all_rows)
    chosen = [i for i, ex in enumerate(examples) if all_rows or low[i]]
    chosen_examples = [examples[i] for i in chosen]
    if progress:
        progress(f"Auto-Correct: {len(chosen)} of {len(examples)} rows get a candidate")
    extra_context = list(context) if context is not None else []
    context = extra_context or examples
    judge_kind = resolve_judge(config.judge, context)
    use_evidence = judge_kind == "evidence"
    has_candidates = candidate_backend is not None or any(CANDIDATE_COL in ex.record for ex in examples)
    if not use_evidence and not has_candidates and chosen_examples:
        raise ClearftError(f"the {judge_kind} judge compares a candidate with the target: give the model "
                           "that writes candidates (--candidate-model)")
    if candidate_backend is not None:
        cands = generate_candidates(chosen_examples, candidate_backend,
                                    max_tokens=config.candidate_max_tokens, seed=config.seed,
                                    batch_size=config.batch_size)
    elif has_candidates:
        cands = [candidate_of(ex.record) for ex in chosen_examples]
    else:
        cands = [Candidate(ex.id, None) for ex in chosen_examples]
    allowed = label_set([ex.response for ex in [*examples, *extra_context]] + list(labels or []))
    cands = [within_labels(conformed(ds, ex, c), allowed)
             for ex, c in zip(chosen_examples, cands, strict=True)]
    classifier_info: dict[str, Any] = {}
    if use_evidence:
        from clearft.correction.label_views import classifier_posteriors

        memo = {} if memo is None else memo
        if "posteriors" not in memo:
            if progress:
                progress(f"Auto-Correct: evidence judge, {config.label_model} label model over {len(context)} rows")
            memo["posteriors"] = classifier_posteriors(
                context, seed=config.seed, classifier=config.label_model, calibration=config.classifier_calibration(),
                cache_dir=Path(label_cache) if label_cache else label_model_cache(output), log=progress)
        posteriors, classifier_info = memo["posteriors"]
        judged = evidence_corrections(ds, chosen_examples, cands, posteriors, config, has_candidates,
                                      evidence_form(classifier_info))
    elif judge_backend is None:
        raise ClearftError(f"the {judge_kind} judge needs a judge model (the base model)")
    elif judge_kind == ft.ESTIMATOR:
        if progress:
            progress(f"Auto-Correct: estimator judge, BSDetector on target and candidate of {len(chosen)} rows")
        kind = ft.answer_kind([ex.response for ex in context])
        judged = estimator_corrections(chosen_examples, cands, judge_backend, config, kind)
    else:
        judged = judge_candidates(chosen_examples, cands, judge_backend, config)
    corrections = dict(zip(chosen, judged, strict=True))

    kept_rows: list[dict[str, Any]] = []
    left_rows: list[dict[str, Any]] = []
    for i, ex in enumerate(examples):
        corr = corrections.get(i)
        if corr is None:
            kept_rows.append(dict(ex.record))
            continue
        base = ex.record
        if corr.replaced and corr.candidate is not None:
            base = ds.with_response(ex, corr.candidate)
        rec = audited_record(base, corr, ex.response)
        rec.pop(CANDIDATE_COL, None)
        rec.pop(CANDIDATE_ERROR_COL, None)
        (kept_rows if corr.replaced or not low[i] else left_rows).append(rec)

    side = Path(uncorrected) if uncorrected else default_side_path(output)
    write_records(str(output), kept_rows)
    write_records(str(side), left_rows)
    reasons = Counter(c.reason for c in corrections.values())
    return CorrectSummary(
        rows=len(examples), low=sum(low),
        judged=sum(1 for c in corrections.values() if c.judge or c.evidence or c.text),
        replaced=reasons.get(v.REPLACED, 0), written=len(kept_rows), left_out=len(left_rows),
        reasons=dict(sorted(reasons.items())), output=str(output), uncorrected=str(side),
        settings={**config.to_dict(), "threshold": threshold, "all_rows": all_rows,
                  "judge": judge_kind, "classifier": classifier_info,
                  "evidence_eta": config.eta_for("evidence", evidence_form(classifier_info)) if use_evidence else None,
                  "evidence_gate": config.gate_for_evidence(evidence_form(classifier_info)) if use_evidence else None,
                  "judge_model": judge_backend.describe() if judge_backend and not use_evidence else None,
                  "candidate": candidate_backend.describe() if candidate_backend else "from data"},
    )
