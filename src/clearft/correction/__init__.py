"""Auto-Correct (CLEAR step 4): the fine-tuned model proposes, the base model judges in both
orders, and a target is replaced only when the judge is confident the candidate is better."""

from clearft.correction.candidates import Candidate, generate_candidates
from clearft.correction.config import CorrectConfig
from clearft.correction.correct import (
    Correction,
    CorrectSummary,
    correct_examples,
    correct_file,
    judge_candidates,
)
from clearft.correction.judge import JudgeResult, Pair, judge_pairs
from clearft.correction.records import CORRECTION_COL, ORIGINAL_COL, write_candidates

__all__ = [
    "CORRECTION_COL",
    "ORIGINAL_COL",
    "Candidate",
    "CorrectConfig",
    "CorrectSummary",
    "Correction",
    "JudgeResult",
    "Pair",
    "correct_examples",
    "correct_file",
    "generate_candidates",
    "judge_candidates",
    "judge_pairs",
    "write_candidates",
]
