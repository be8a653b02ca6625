"""The quality-per-second frontier of every free-text scoring method and preset (issue 15 item 5).

For each dataset, every (method, preset) below scores the same rows on the default backend
(in-process llama.cpp, the embedded model, one model load for the whole run, call cache off),
one after another in this process. Printed per run: AUROC (does a noisy row score lower
than a clean one), rows/s of scoring (model load not included: it is paid once a run; the
log-likelihood path's torch start-up is timed on its own line), and whether the run is on the
frontier -- no other run of the same dataset is both at least as good and at least as fast.

    python bench/frontier.py --datasets gsm8k-20,gsm8k-near-20 --rows 60

AUROC's standard error with 12 noisy rows of 60 is about 0.05-0.09: read near-ties as ties.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clearft.scoring import Usage, make_config, score_examples  # noqa: E402
from detect import DATASETS, auroc  # noqa: E402  (bench/detect.py)
from timing import markdown_table, timed  # noqa: E402

# (method, preset): every free-text method, BSDetector at each preset (preset only moves
# BSDetector's settings; the others run once).
RUNS = (
    ("perplexity", "medium"), ("ifd", "medium"), ("judge-rating", "medium"),
    ("bsdetector", "base"), ("bsdetector", "low"), ("bsdetector", "medium"), ("bsdetector", "high"),
)


def on_frontier(runs: list[dict[str, float]]) -> list[bool]:
    """Whether each run is Pareto-optimal in (AUROC, rows/s): no other run is at least as good
    on both and better on one."""
    return [not any(o is not r and o["auroc"] >= r["auroc"] and o["rows_s"] >= r["rows_s"]
                    and (o["auroc"] > r["auroc"] or o["rows_s"] > r["rows_s"]) for o in runs)
            for r in runs]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="gsm8k-20,gsm8k-near-20")
    p.add_argument("--rows", type=int, default=60)
    p.add_argument("--runs", default=",".join(f"{m}:{pr}" for m, pr in RUNS),
                   help="method:preset pairs, comma-separated")
    p.add_argument("--batch-size", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from clearft.backends.llamacpp import LlamaCppBackend

    backend, load_s = timed(LlamaCppBackend)
    print(f"model load: {load_s:.1f} s", flush=True)
    if any(r.startswith(("ifd", "perplexity")) for r in args.runs.split(",")):
        _, torch_s = timed(backend.forward.ready)
        print(f"log-likelihood forward path ({backend.forward.path or 'forced'}) start-up: {torch_s:.1f} s", flush=True)

    for name in args.datasets.split(","):
        examples, truth = DATASETS[name](args.rows, args.seed)
        results = []
        for spec in args.runs.split(","):
            method, preset = spec.split(":")
            config = make_config(preset, method=method, batch_size=args.batch_size)
            usage = Usage()
            started = time.monotonic()
            scored = []
            for i in range(0, len(examples), config.batch_size):
                scored += score_examples(examples[i:i + config.batch_size], backend, config, usage, method=method)
            seconds = time.monotonic() - started
            scores = [0.5 if r.confidence is None else r.confidence for r in scored]
            results.append({"method": method, "preset": preset if method == "bsdetector" else "",
                            "auroc": auroc(scores, truth), "rows_s": len(examples) / seconds, "s": seconds,
                            "failed": sum(r.confidence is None for r in scored),
                            "prompt": usage.prompt_tokens, "generated": usage.completion_tokens})
            r = results[-1]
            print(f"  {name} {method} {preset}: AUROC {r['auroc']:.3f}, {r['s']:.0f} s", file=sys.stderr, flush=True)
        best = on_frontier(results)
        print(f"\n{name}: {len(examples)} rows, {sum(truth)} noisy\n")
        print(markdown_table(
            ["method", "preset", "AUROC", "rows/s", "s", "failed", "prompt tokens", "generated tokens", "on the frontier"],
            [[r["method"], r["preset"], f"{r['auroc']:.3f}", f"{r['rows_s']:.3f}", f"{r['s']:.0f}", r["failed"],
              r["prompt"], r["generated"], "yes" if b else ""] for r, b in zip(results, best, strict=True)],
            align="llrrrrrrl"), flush=True)
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
