"""What `clearft correct` will cost, before it spends anything (`clearft correct --dry-run`).

Every count comes from the rule the run itself applies: which rows are considered (as in
correct_file), which judge decides (uses_evidence), the classifier's folds and regularisation
grid (label_views, scoring/label_model.py), the candidate's token budget (candidates.py) and
the llm judge's requests, built by the judge's own planner (judge.py) so the two cannot drift
apart. No model is loaded, no text embedded, no file written. Tokens are rough: prompts at 4
characters a token (the scorer's dry-run convention), generated tokens at their maximum.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clearft.correction.candidates import auto_max_tokens
from clearft.correction.config import CorrectConfig, resolve_label_model
from clearft.correction.correct import resolve_judge
from clearft.correction.prompts import ORDERS
from clearft.correction.records import CANDIDATE_COL, low_rows, read_examples
from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.errors import ClearftError
from clearft.scoring.label_space import label_of

CHARS_PER_TOKEN = 4  # as scoring/engine.estimate: a rough count, never a tokenizer call
# The folds of the evidence judge's classifier: classifier_posteriors' default, which
# correct_file does not change (a test checks the two agree).
CLASSIFIER_FOLDS = 5


@dataclass
class CorrectEstimate:
    rows: int  # rows read from DATA
    considered: int  # rows that get a candidate and a decision
    scope: str  # why those rows: "low rows" or "all rows"
    judge: str  # "evidence", "estimator" or "llm"
    candidates: str  # "model" (--candidate-model writes them), "data" (a clearft_candidate column), "none"
    candidate_model: str | None = None
    rejected: int = 0  # bad records --on-error skip would set aside
    # The evidence judge: one embedding per context row, then out-of-fold classifier fits.
    context_rows: int = 0
    embedded_texts: int = 0
    folds: int = 0
    regularisation: list[float] = field(default_factory=list)
    classifier_fits: int = 0
    # The label model (CorrectConfig.label_model); for "encoder", the sentence encoder fine-tuned
    # once per fold on the rows the frozen classifier keeps: at most this many training rows a
    # fold, each seen `epochs` times.
    label_model: str = "ensemble"
    encoder_fine_tunes: int = 0
    encoder_training_rows: int = 0
    encoder_epochs: int = 0
    # The candidate model: one greedy request per considered row.
    candidate_requests: int = 0
    candidate_max_tokens: int = 0
    candidate_backend_calls: int = 0
    candidate_prompt_tokens: int = 0
    # The llm judge, for every considered row that ends up judged (at most all of them).
    logprobs: bool = True
    judge_requests_per_row: int = 0
    judge_parts: list[str] = field(default_factory=list)
    judge_requests: int = 0
    judge_generations: int = 0
    judge_backend_calls: int = 0
    judge_prompt_tokens: int = 0
    # The estimator judge: BSDetector scores of target and candidate (scoring's own estimate).
    estimator: dict[str, int] = field(default_factory=dict)
    judge_max_completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"dry run: {self.rows} rows read, {self.considered} considered ({self.scope}), "
               f"{self.judge} judge"]
        if self.rejected:
            out.append(f"  {self.rejected} bad records would be skipped (--on-error skip)")
        if self.judge == "evidence":
            if self.classifier_fits:
                grid = ", ".join(f"{c:g}" for c in self.regularisation)
                out.append(f"  evidence judge: {self.embedded_texts} texts to embed (the {self.context_rows} "
                           f"context rows; sentence encoder, no LLM calls), {self.classifier_fits} "
                           f"classifier fits ({self.folds} folds x {len(self.regularisation)} "
                           f"regularisation strengths: {grid}"
                           f"{', x 2 classifiers: embeddings and word n-grams' if self.label_model.startswith('ensemble') else ''})")
                if self.encoder_fine_tunes:
                    out.append(f"  label model: the sentence encoder fine-tuned {self.encoder_fine_tunes} "
                               f"times (one per fold), at most {self.encoder_training_rows} rows x "
                               f"{self.encoder_epochs} epochs each, then one forward pass a row; the "
                               "costly part on a CPU (--label-model ensemble-frozen: seconds)")
            else:
                out.append(f"  evidence judge: no classifier view ({self.context_rows} context rows "
                           "are too few); nothing to embed")
        if self.candidates == "model":
            out.append(f"  candidate model ({self.candidate_model}): {self.candidate_requests} greedy "
                       f"requests, at most {self.candidate_max_tokens} tokens each, in about "
                       f"{self.candidate_backend_calls} batched backend calls; tokens: about "
                       f"{self.candidate_prompt_tokens} prompt + at most "
                       f"{self.candidate_requests * self.candidate_max_tokens} generated")
        elif self.candidates == "data":
            out.append("  candidates: from the clearft_candidate column (no candidate model)")
        elif self.judge == "evidence":
            out.append("  candidates: none (the evidence judge proposes the label its classifier "
                       "supports)")
        if self.judge == "estimator" and not self.considered:
            out.append("  estimator judge: no row to judge (no model call)")
        elif self.judge == "estimator":
            e = self.estimator
            out.append(f"  estimator judge: BSDetector on the target and the candidate of each row: at most "
                       f"{e['requests']} requests ({e['generated_samples']} generations; the samples are "
                       f"shared by target and candidate, so the call cache answers about half of them), "
                       f"tokens: about {e['prompt_tokens']} prompt + at most {e['max_completion_tokens']} generated")
        if self.judge == "llm" and not self.considered:
            out.append("  llm judge: no row to judge (no model call)")
        elif self.judge == "llm":
            how = "letter probabilities" if self.logprobs else "generated letters"
            out.append(f"  llm judge: {self.judge_requests_per_row} requests a row (in each of {len(ORDERS)} "
                       f"orders: {', '.join(self.judge_parts)}; {how}), at most {self.judge_requests} "
                       f"requests ({self.judge_generations} generations) in about "
                       f"{self.judge_backend_calls} batched backend calls; tokens: about "
                       f"{self.judge_prompt_tokens} prompt + at most "
                       f"{self.judge_max_completion_tokens} generated")
            out.append("  (rows whose candidate is missing, refused or equal to the target are "
                       "not judged)")
        elif self.judge == "evidence":
            out.append("  judge model: none (the evidence judge makes no model calls)")
        out.append("  nothing was loaded, embedded or written")
        return out


def considered_rows(examples: Sequence[Example], threshold: float | None,
                    all_rows: bool) -> tuple[list[Example], str]:
    """(the rows correct_file gives a candidate, why): the low rows, or every row with
    all_rows. Without a threshold or a clearft_keep column every row of DATA is low."""
    low = low_rows(examples, threshold, all_rows)
    chosen = [ex for ex, is_low_row in zip(examples, low, strict=True) if all_rows or is_low_row]
    return chosen, "all rows" if all_rows else "low rows"


def _classifier_plan(context_rows: int) -> tuple[int, list[float], int]:
    """(folds, regularisation grid, fits) of the evidence judge's classifier on this many rows."""
    from clearft.scoring.label_model import REGULARISATION
    from clearft.scoring.label_space import MIN_ROWS

    if context_rows < MIN_ROWS:
        return 0, [], 0
    k = max(2, min(CLASSIFIER_FOLDS, context_rows))  # as scoring/label_model._oof
    # An upper bound: a fold whose training rows hold a single label is filled without a fit.
    return k, list(REGULARISATION), k * len(REGULARISATION)


def _judge_plan(est: CorrectEstimate, rows: Sequence[Example], config: CorrectConfig) -> None:
    """The llm judge's requests for `rows`, from the judge's own planner. The candidate is not
    known before the run; the target stands in for it (a candidate is about as long)."""
    from clearft.correction.judge import Pair, _plan

    chars = 0
    for ex in rows:  # a row at a time: a whole file's prompts, 8 times over, would fill memory
        for req in _plan([Pair(ex.prompt_text, ex.response, ex.response)], config, est.logprobs).requests:
            est.judge_requests += 1
            est.judge_generations += req.n
            est.judge_max_completion_tokens += req.n * req.max_tokens
            chars += sum(len(m["content"]) for m in req.messages)
    est.judge_prompt_tokens = chars // CHARS_PER_TOKEN
    est.judge_backend_calls = math.ceil(len(rows) / config.batch_size)
    # One row's plan, in one order, names the parts (the same for every row and order).
    one = _plan([Pair("q", "a", "b")], config, est.logprobs)
    est.judge_requests_per_row = len(one.requests)
    names = {"verdict": "verdict", "explain": "explanation", "reflection": "reflection"}
    first = one.slots[0][1] if one.slots else None
    est.judge_parts = [f"{req.n} sampled verdicts" if kind == "samples" else names.get(kind, kind)
                       for (_, order, kind), req in zip(one.slots, one.requests, strict=True)
                       if order == first]


def estimate_correction(
    examples: Sequence[Example],
    config: CorrectConfig,
    *,
    context: Sequence[Example] | None = None,
    threshold: float | None = None,
    all_rows: bool = False,
    candidate_model: str | None = None,
    logprobs: bool = True,
) -> CorrectEstimate:
    """The cost of correct_file on `examples` (pure: no model, no embedding, no I/O).

    `candidate_model` describes the model --candidate-model names (None: no candidate model);
    `logprobs`: whether the judge backend reports letter probabilities (every built-in one
    does; use_logprobs="never" turns them off), which decides the judge's requests."""
    chosen, scope = considered_rows(examples, threshold, all_rows)
    ctx = list(context) if context else list(examples)
    judge = resolve_judge(config.judge, ctx)
    evidence = judge == "evidence"
    if candidate_model is not None:
        candidates = "model"
    elif any(CANDIDATE_COL in ex.record for ex in examples):
        candidates = "data"
    else:
        candidates = "none"
    if not evidence and candidates == "none" and chosen:
        raise ClearftError(f"the {judge} judge compares a candidate with the target: give the model "
                           "that writes candidates (--candidate-model)")
    est = CorrectEstimate(rows=len(examples), considered=len(chosen), scope=scope,
                          judge=judge, candidates=candidates,
                          candidate_model=candidate_model, logprobs=logprobs)
    if evidence:
        est.context_rows = len(ctx)
        est.folds, est.regularisation, est.classifier_fits = _classifier_plan(len(ctx))
        est.embedded_texts = len(ctx) if est.classifier_fits else 0
        classes = len({label_of(ex) for ex in ctx}) if est.classifier_fits else 0
        est.label_model = resolve_label_model(config.label_model, len(ctx), classes)
        if est.label_model.startswith("ensemble"):  # a second classifier over word n-grams
            est.classifier_fits *= 2
        if est.label_model in ("encoder", "ensemble-fine-tuned") and est.classifier_fits:
            from clearft.scoring.label_encoder import EncoderSettings

            enc = EncoderSettings(folds=est.folds, seed=config.seed)
            est.encoder_fine_tunes = est.folds
            # Every other fold's rows (before the confident-learning filter drops some).
            est.encoder_training_rows = min(enc.max_train_rows, len(ctx) - len(ctx) // est.folds)
            est.encoder_epochs = enc.epochs
    if candidates == "model" and chosen:
        # generate_candidates' own budget: the configured one, else from the longest target.
        est.candidate_max_tokens = config.candidate_max_tokens or auto_max_tokens([ex.response for ex in chosen])
        est.candidate_requests = len(chosen)
        est.candidate_backend_calls = math.ceil(len(chosen) / config.batch_size)
        est.candidate_prompt_tokens = sum(len(ex.prompt_text) for ex in chosen) // CHARS_PER_TOKEN
    if judge == "llm" and chosen:
        _judge_plan(est, chosen, config)
    if judge == "estimator" and chosen:
        from clearft.scoring import make_config
        from clearft.scoring.engine import estimate

        score_config = make_config(config.estimator_preset, method="bsdetector", seed=config.seed)
        est.estimator = estimate([ex for ex in chosen for _ in range(2)], "bsdetector", score_config, None)
    return est


def estimate_correct_file(
    data: str | Path,
    config: CorrectConfig,
    *,
    context: str | Path | None = None,
    threshold: float | None = None,
    all_rows: bool = False,
    candidate_model: str | None = None,
    logprobs: bool = True,
    data_options: DataOptions | None = None,
) -> CorrectEstimate:
    """estimate_correction over files. Reading validates every record, as the run would."""
    skip = data_options is not None and data_options.on_error == "skip"
    with tempfile.TemporaryDirectory(prefix="clearft-dry-run-") as scratch:
        # --on-error skip writes bad records beside the input; a dry run writes nothing, so
        # they go to a scratch folder that is thrown away, and are only counted.
        def rejects(name: str) -> Path | None:
            return Path(scratch) / name if skip else None

        ds, examples = read_examples(data, data_options, rejects("data.rejects.jsonl"))
        ctx_ds, ctx = (read_examples(context, data_options, rejects("context.rejects.jsonl"))
                       if context else (None, None))
    est = estimate_correction(examples, config, context=ctx, threshold=threshold, all_rows=all_rows,
                              candidate_model=candidate_model, logprobs=logprobs)
    est.rejected = sum(getattr(d, "rejected", 0) for d in (ds, ctx_ds) if d is not None)
    return est
