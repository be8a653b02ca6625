"""Which fold each row falls in, and whether the targets are labels (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from clearft.scoring.label_space import MAX_VALUES, target_labels


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


def label_set(responses: Sequence[str], max_values: int = MAX_VALUES) -> list[str] | None:
    """The distinct targets as written when they are labels (the one label-space rule,
    scoring/label_space.py), else None: target probabilities are normalised over them."""
    return target_labels(responses, max_values)


def fold_dir(work_dir: Path, fold: int, folds: int) -> Path:
    return work_dir / f"fold-{fold + 1}-of-{folds}"
