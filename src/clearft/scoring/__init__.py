"""Confidence that a training example's target is good, in [0, 1] (low = likely bad).

BSDetector (SPEC section 1) and baselines behind one interface. Importing this package is
cheap: models load inside the functions that need them.
"""

from __future__ import annotations

from clearft.scoring.config import METHODS, PRESETS, SIMILARITIES, ScoreConfig, make_config
from clearft.scoring.engine import resolve_method, score_examples
from clearft.scoring.result import ScoreResult, ScoreSummary, Usage
from clearft.scoring.runfile import score_file, score_file_on_engine

__all__ = [
    "METHODS", "PRESETS", "SIMILARITIES", "ScoreConfig", "ScoreResult", "ScoreSummary", "Usage",
    "make_config", "resolve_method", "score_examples", "score_file", "score_file_on_engine",
]
