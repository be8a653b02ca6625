"""Evaluation through the transformers backend with and without the shared prompt prefix
(backends/prefix_cache.py), back to back in one process on the same model and rows: seconds,
accuracy, and whether every reply is the same.

    python bench/eval_speed.py runs/demo/model_corrected examples/data/banking77_test.jsonl --batch-sizes 8,32

MODEL is a fine-tuned folder (`clearft finetune` writes one; the main job leaves
runs/demo/model_*). "plain" turns sharing off by raising MIN_SHARED_PREFIX out of reach; the
modes alternate, so a slow spell on the machine falls on both.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="a model folder (transformers backend)")
    p.add_argument("test", type=Path, help="a test file clearft evaluate reads")
    p.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating")
    p.add_argument("--limit", type=int, default=None, help="only the first N test rows")
    p.add_argument("--batch-sizes", default="8,32", help="the backend's decode batches to compare (its CPU default: 32)")
    args = p.parse_args()

    from clearft.backends import prefix_cache
    from clearft.backends.transformers_backend import TransformersBackend
    from clearft.evaluation import evaluate

    shared_at = prefix_cache.MIN_SHARED_PREFIX
    replies: dict[str, list[object]] = {}
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        backend = TransformersBackend(model=args.model, batch_size=batch_size)
        times: dict[str, list[float]] = {"plain": [], "shared": []}
        accuracy: dict[str, float] = {}
        for _ in range(args.repeats):
            for mode in ("plain", "shared"):
                prefix_cache.MIN_SHARED_PREFIX = shared_at if mode == "shared" else 10**9
                start = time.perf_counter()
                result = evaluate(backend, args.test, limit=args.limit, progress=False)
                times[mode].append(round(time.perf_counter() - start, 1))
                replies[f"{mode}@{batch_size}"] = [r["prediction"] for r in result.rows]
                accuracy[mode] = round(result.accuracy, 3)
        backend.close()
        best = {m: min(t) for m, t in times.items()}
        first = next(iter(replies.values()))
        print(json.dumps({"model": str(args.model), "batch_size": batch_size, "rows": len(first),
                          "seconds": times, "accuracy": accuracy,
                          # every reply so far, every batch size and mode, the same as the first run's
                          "same_replies_as_first": all(r == first for r in replies.values()),
                          "speedup_best_of": round(best["plain"] / best["shared"], 2)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
