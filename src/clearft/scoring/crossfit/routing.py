"""Fold models for Auto-Correct: a backend that routes each row's prompt to its own fold
model (which never saw the row's target), and candidates straight from those models."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend, Capabilities, GenerateRequest
from clearft.backends.delegating import DelegatingBackend
from clearft.data.example import Example
from clearft.scoring.crossfit import models
from clearft.scoring.crossfit.models import OpenModel
from clearft.scoring.crossfit.store import read_folds


def messages_key(messages: Sequence[dict[str, str]]) -> str:
    return json.dumps(list(messages), sort_keys=True, ensure_ascii=False)


class FoldRoutingBackend(DelegatingBackend):
    """Sends each generate request whose prompt is routed to that prompt's fold model, and
    every other request to `fallback` (its `inner`): Auto-Correct's candidate generator,
    unchanged, then gets a candidate for a row from a model that never saw the row's target.
    Fold models are opened on first use and kept until close()."""

    def __init__(self, fallback: Backend, route: dict[str, Path], open_model: OpenModel) -> None:
        super().__init__(fallback)
        self.name = "crossfit-router"
        self.route = route  # messages_key(prompt) -> fold model folder
        self.open_model = open_model
        self._open: dict[Path, Backend] = {}
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"{self.inner.model_id}+crossfit({len(set(self.route.values()))} folds)"

    @property
    def capabilities(self) -> Capabilities:
        # Whole batches: a fold model batches its own requests (the fallback's slots say
        # nothing about it).
        return replace(self.inner.capabilities, parallel_requests=0)

    # Described under its own name and model id; scores no continuation (a fold model's
    # log-probabilities are not the fallback's).
    describe = Backend.describe
    loglikelihood = Backend.loglikelihood

    def _backend(self, model_dir: Path | None) -> Backend:
        if model_dir is None:
            return self.inner
        with self._lock:  # one copy of each fold model, whichever thread asks first
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
        super().close()


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
    open_model = open_model or models.default_opener()
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
