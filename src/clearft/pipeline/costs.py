"""What each kind of stage of `clearft run` costs (model calls, generated tokens, LoRA
steps), for `--dry-run`. The stage declarations in pipeline/run.py name these; estimates are
rough on purpose (rows x calls, tokens, steps)."""

from __future__ import annotations

from clearft.correction.config import CALIBRATED
from clearft.pipeline.config import RunConfig
from clearft.pipeline.stage import Cost, Estimate, Sizes


def judge_calls_per_row(config: RunConfig) -> tuple[int, int]:
    """(generation requests, generated tokens) the judge spends on one row, both orders."""
    c = config.correct
    per_order_calls = 1 + int(c.explain) + int(c.reflection) + (1 if c.samples else 0)
    sample_tokens = c.samples * (3 if c.sample_style == "direct" else c.sample_max_tokens)
    per_order_tokens = 1 + c.explain_max_tokens * int(c.explain) + int(c.reflection) + sample_tokens
    return 2 * per_order_calls, 2 * per_order_tokens


def correct_cost_per_row(config: RunConfig, label_targets: bool) -> tuple[str, int, int]:
    """(which judge, model calls, generated tokens) Auto-Correct spends on one row: the
    judge resolved as correct_file resolves it ("auto": evidence for label targets, which
    makes no model call, else the estimator: BSDetector on target and candidate)."""
    judge = config.correct.judge
    if judge == "auto":
        judge = "evidence" if label_targets else "estimator"
    if judge == "evidence":
        return judge, 0, 0
    if judge == "estimator":
        from clearft.data.example import Example
        from clearft.scoring import make_config
        from clearft.scoring.engine import estimate

        one = Example("row", [{"role": "user", "content": ""}], "")
        est = estimate([one, one], "bsdetector", make_config(config.correct.estimator_preset), None)
        return judge, est["requests"], est["max_completion_tokens"]
    calls, tokens = judge_calls_per_row(config)
    return judge, calls, tokens


def score(config: RunConfig) -> Estimate:
    def cost(s: Sizes) -> Cost:
        est = (s.score_estimate or {}).get("estimate") or {}
        if config.cross_fit:
            k = config.cross_fit
            fold_rows = s.rows - s.rows // k  # the largest training share
            return Cost(f"cross-fit: {k} fine-tunes on ~{fold_rows} rows each, then score {s.rows} rows "
                        f"by their fold model ({', '.join(config.cross_fit_parts)})",
                        int(est.get("requests", s.rows)), int(est.get("max_completion_tokens", 0)),
                        int(est.get("training_steps", k * s.steps(fold_rows))))
        if s.score_estimate is not None:
            method = s.score_estimate.get("method", config.method or "auto")
            return Cost(f"score {s.rows} rows, method {method}", int(est.get("requests", 0)),
                        int(est.get("max_completion_tokens", 0)))
        return Cost(f"score {s.rows} rows with {config.backend} (method {config.method or 'auto'}; "
                    "rough guess: k=5 samples + 2 reflections)", s.rows * 7, s.rows * 7 * 40)

    return cost


def filter_(config: RunConfig) -> Estimate:
    def cost(s: Sizes) -> Cost:
        if config.auto_threshold:  # the mixture's cut is known only once the rows are scored
            return Cost(f"drop the rows below the automatic cut (counted as ~{s.dropped} of {s.rows} here)")
        return Cost(f"keep ~{s.kept}, drop ~{s.dropped} rows")

    return cost


def select(config: RunConfig) -> Estimate:
    return lambda s: Cost(f"{s.judged} rows to correct ({'every row' if config.correct_all else 'the dropped ones'})")


def finetune(what: str, rows: str) -> Estimate:
    """`rows`: which count of Sizes the fine-tune trains on (rows, kept, kept+judged, reviewed)."""
    def cost(s: Sizes) -> Cost:
        n = {"rows": s.rows, "kept": s.kept, "kept+judged": s.kept + s.judged,
             "reviewed": s.kept + s.judged}[rows]
        return Cost(f"fine-tune on {what} (~{n} rows)", train_steps=s.steps(n))

    return cost


def candidates(config: RunConfig) -> Estimate:
    return lambda s: Cost(f"{s.judged} greedy candidates from the fine-tuned model ({config.candidate_backend})",
                          s.judged, s.judged * 32)


def correct(config: RunConfig) -> Estimate:
    def cost(s: Sizes) -> Cost:
        from clearft.scoring.config import DATASET_METHODS

        method = (s.score_estimate or {}).get("method", config.method or "auto")
        judge, calls, tokens = correct_cost_per_row(config, method in DATASET_METHODS)
        how = {"evidence": f"out-of-sample views, {config.correct.label_model} label model, no LLM call",
               "estimator": "BSDetector on target "
               "and candidate", "llm": "the base model compares both orders"}[judge]
        eta = f"eta {config.correct.eta_for(judge)}"
        cc = config.correct
        if judge == "evidence" and cc.classifier_calibration() == "temperature":
            eta = f"eta {cc.eta_for(judge, CALIBRATED)} on the calibrated probability"
        elif judge == "evidence" and cc.eta is None and cc.gate is None and cc.label_model.startswith("ensemble"):
            eta += f" ({cc.gate_for_evidence()})"
            if cc.label_model == "ensemble":
                eta += f"; {cc.eta_for(judge, 'ensemble-fine-tuned')} where its sentence view is fine-tuned"
            if cc.classifier_calibration() == "auto":
                eta += (f"; {cc.eta_for(judge, CALIBRATED)} on the calibrated probability where its frozen "
                        "form's calibration is identified")
        return Cost(f"{judge} judge on {s.judged} rows ({how}; {eta})",
                    s.judged * calls, s.judged * tokens)

    return cost


def train_set(what: str) -> Estimate:
    return lambda s: Cost(what)


def review(s: Sizes) -> Cost:
    return Cost(f"apply {s.review_rows} reviewer decisions to the latest training set")


def evaluate(label: str) -> Estimate:
    return lambda s: Cost(f"the {label} model on {s.test_rows} test rows", s.test_rows, s.test_rows * 8)
