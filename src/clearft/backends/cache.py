"""A content-hashed cache of model calls in one SQLite file, wrapping any backend.

Why: scoring a dataset makes thousands of calls; a crash, a rerun with more samples or a
changed threshold must not pay for them again.

* One row per call result; the key is sha256 of (backend name, model id, call kind,
  request key, sample seed). Sampled calls are stored per sample (sample i under seed + i),
  so asking for n=5 after n=3 reuses the 3 and computes 2.
* Failed calls are never stored: a rerun tries them again.
* Results are written as each chunk of calls comes back (one transaction per chunk), so a
  killed run resumes from everything finished before the kill.
* Safe to share between threads (one connection behind a lock; WAL lets other processes
  read while we write).

`open_backend` is how the rest of clearft gets a backend: by name, with the cache on by
default at `.clearft-cache/calls.sqlite`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clearft.backends.base import (
    Backend,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from clearft.backends.delegating import DelegatingBackend

DEFAULT_CACHE_PATH = Path(".clearft-cache") / "calls.sqlite"
DEFAULT_CHUNK = 32  # calls sent to the inner backend at once (and written at once)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""


def call_key(backend: str, model_id: str, kind: str, request_key: str, seed: int | None) -> str:
    """The cache key of one call (one sample for generate)."""
    parts = [backend, model_id, kind, request_key, "" if seed is None else str(seed)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0  # calls that failed (not stored)
    prompt_tokens: int = 0  # spent on misses
    completion_tokens: int = 0  # spent on misses
    saved_prompt_tokens: int = 0  # what the hits would have cost
    saved_completion_tokens: int = 0


class CachedBackend(DelegatingBackend):
    """`inner` with every call remembered in SQLite at `path`."""

    def __init__(self, inner: Backend, path: str | Path, chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self.chunk_size = max(1, chunk_size)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")  # another process may be writing
        self._db.execute(_SCHEMA)
        self._stats = CacheStats()

    # -- contract ------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": str(self.path)}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return asdict(self._stats)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        # 1. Look every sample up.
        keys = [[self._sample_key(req, i) for i in range(req.n)] for req in requests]
        found = self._get_many([k for ks in keys for k in ks])
        samples: list[list[dict[str, Any] | None]] = [[found.get(k) for k in ks] for ks in keys]
        hit_values = [v for row in samples for v in row if v is not None]
        self._count(hits=len(hit_values), saved=hit_values)

        # 2. Ask the inner backend for what is missing. A request with nothing cached goes
        #    whole (the backend may batch its samples); otherwise only its missing samples.
        todo: list[tuple[int, list[int], GenerateRequest]] = []
        for r, req in enumerate(requests):
            missing = [i for i, v in enumerate(samples[r]) if v is None]
            if len(missing) == req.n:
                todo.append((r, missing, req))
            else:
                todo.extend((r, [i], req.single(i)) for i in missing)
        errors: dict[int, str] = {}
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            results = self.inner.generate([sent for _, _, sent in chunk])
            rows = []
            for (r, indices, _), comp in zip(chunk, results, strict=True):
                if not comp.ok or len(comp.texts) != len(indices):
                    errors[r] = comp.error or "backend returned the wrong number of samples"
                    self._count(errors=1)
                    continue
                values = _split_samples(comp, requests[r].top_logprobs > 0)
                for i, value in zip(indices, values, strict=True):
                    samples[r][i] = value
                    rows.append((keys[r][i], "generate", json.dumps(value, ensure_ascii=False)))
                self._count(misses=len(indices), spent=values)
            self._put_many(rows)

        # 3. Assemble one Completion per request, in order.
        out = []
        for r, req in enumerate(requests):
            if r in errors:
                out.append(Completion(texts=[], error=errors[r]))
                continue
            values = [v for v in samples[r] if v is not None]
            out.append(_join_samples(values, req.top_logprobs > 0))
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        keys = [call_key(self.inner.name, self.model_id, "loglikelihood", r.key(), None) for r in requests]
        found = self._get_many(keys)
        self._count(hits=sum(1 for k in keys if k in found))
        results: list[LoglikelihoodResult | None] = [
            LoglikelihoodResult(**found[k]) if k in found else None for k in keys
        ]
        todo = [i for i, res in enumerate(results) if res is None]
        for start in range(0, len(todo), self.chunk_size):
            idx = todo[start : start + self.chunk_size]
            computed = self.inner.loglikelihood([requests[i] for i in idx])
            rows = []
            for i, res in zip(idx, computed, strict=True):
                results[i] = res
                if res.ok:
                    rows.append((keys[i], "loglikelihood", json.dumps(asdict(res))))
                    self._count(misses=1)
                else:
                    self._count(errors=1)
            self._put_many(rows)
        return [res for res in results if res is not None]

    def close(self) -> None:
        super().close()
        with self._lock:
            self._db.close()  # closing twice is harmless

    # -- storage -------------------------------------------------------------------

    def _sample_key(self, req: GenerateRequest, i: int) -> str:
        one = req.single(i)
        return call_key(self.inner.name, self.model_id, "generate", one.key(), one.seed)

    def _get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, value in self._db.execute(
                    f"SELECT key, value FROM calls WHERE key IN ({marks})", part
                ):
                    out[key] = json.loads(value)
        return out

    def _put_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO calls (key, kind, value) VALUES (?, ?, ?)", rows
            )
            self._db.execute("COMMIT")

    def _count(
        self,
        hits: int = 0,
        misses: int = 0,
        errors: int = 0,
        saved: Sequence[dict[str, Any]] = (),
        spent: Sequence[dict[str, Any]] = (),
    ) -> None:
        with self._lock:
            s = self._stats
            s.hits += hits
            s.misses += misses
            s.errors += errors
            s.saved_prompt_tokens += sum(v.get("prompt_tokens", 0) for v in saved)
            s.saved_completion_tokens += sum(v.get("completion_tokens", 0) for v in saved)
            s.prompt_tokens += sum(v.get("prompt_tokens", 0) for v in spent)
            s.completion_tokens += sum(v.get("completion_tokens", 0) for v in spent)


def _split_samples(comp: Completion, want_top: bool) -> list[dict[str, Any]]:
    """Per-sample records of a Completion; its token counts are shared out between them."""
    n = len(comp.texts)
    values = []
    for i, text in enumerate(comp.texts):
        top = (comp.first_token_logprobs or [{}] * n)[i] if want_top else None
        # Integer shares that add back up to the totals (the first samples take the rest).
        values.append({
            "text": text,
            "top": top,
            "prompt_tokens": comp.prompt_tokens // n + (1 if i < comp.prompt_tokens % n else 0),
            "completion_tokens": comp.completion_tokens // n + (1 if i < comp.completion_tokens % n else 0),
        })
    return values


def _join_samples(values: Sequence[dict[str, Any]], want_top: bool) -> Completion:
    return Completion(
        texts=[v["text"] for v in values],
        first_token_logprobs=[v.get("top") or {} for v in values] if want_top else None,
        prompt_tokens=sum(v.get("prompt_tokens", 0) for v in values),
        completion_tokens=sum(v.get("completion_tokens", 0) for v in values),
    )


def open_backend(
    name: str | None = None,
    cache: str | Path | None = None,
    **options: Any,
) -> Backend:
    """A backend by name (default llamacpp), wrapped in the call cache.

    cache: a path; None for the default `.clearft-cache/calls.sqlite` (but no cache for the
    `fake` test backend, whose replies are scripted per test); "off" for no cache.
    Options go to the backend's constructor (model, base_url, concurrency, ...).
    """
    from clearft.backends.registry import DEFAULT_BACKEND, load_backend

    name = name or DEFAULT_BACKEND
    backend = load_backend(name, **options)
    if cache is None and name == "fake":
        return backend
    if cache is not None and str(cache).lower() in ("off", "none", "no", "false", ""):
        return backend
    return CachedBackend(backend, DEFAULT_CACHE_PATH if cache is None else Path(cache))
