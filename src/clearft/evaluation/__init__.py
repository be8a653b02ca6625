"""Evaluating models on held-out data with the metric the task needs (chosen automatically).

Importing this package is cheap; backends load their libraries when a model is opened.
"""

from clearft.evaluation.metrics import (
    METRICS,
    choose_metric,
    extract_choice,
    extract_json,
    extract_label,
    extract_number,
    normalize_text,
    score_prediction,
    token_f1,
)
from clearft.evaluation.runner import (
    EvalResult,
    default_max_tokens,
    evaluate,
    evaluate_many,
    resolve_model,
    results_table,
)

__all__ = [
    "METRICS",
    "EvalResult",
    "choose_metric",
    "default_max_tokens",
    "evaluate",
    "evaluate_many",
    "extract_choice",
    "extract_json",
    "extract_label",
    "extract_number",
    "normalize_text",
    "resolve_model",
    "results_table",
    "score_prediction",
    "token_f1",
]
