"""Log-likelihoods of every label for a few rows (what cross-fitted label-prob asks for on
many-label data), three ways, in one run on one machine:

* transformers, requests sharing a prompt scored from one cached prompt pass (the default);
* transformers, the plain path: prompt + label in right-padded batches of 8;
* llama.cpp, one forced-token request per label (the default backend).

    python bench/loglik_shared.py --rows 3

Prints seconds per path and the largest difference between the two transformers paths.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from clearft.backends.base import LoglikelihoodRequest

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "banking77"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=3)
    args = p.parse_args()
    from clearft.backends.llamacpp import LlamaCppBackend
    from clearft.backends.transformers_backend import TransformersBackend

    labels = json.loads((DATA / "categories.json").read_text())
    with (DATA / "train.csv").open(newline="", encoding="utf-8") as f:
        rows = [r for _, r in zip(range(args.rows), csv.DictReader(f), strict=False)]
    reqs = [LoglikelihoodRequest([{"role": "user", "content": r["text"]}], label) for r in rows for label in labels]
    hf = TransformersBackend(batch_size=8)
    started = time.monotonic()
    shared = hf.loglikelihood(reqs)
    t_shared = time.monotonic() - started
    started = time.monotonic()
    plain = []
    for i in range(0, len(reqs), 8):
        plain += hf._loglikelihood_batch(reqs[i:i + 8])
    t_plain = time.monotonic() - started
    hf.close()
    llama = LlamaCppBackend()
    started = time.monotonic()
    llama.loglikelihood(reqs)
    t_llama = time.monotonic() - started
    llama.close()
    diff = max(abs(a.logprob - b.logprob) for a, b in zip(shared, plain, strict=True))
    print(f"{args.rows} rows x {len(labels)} labels = {len(reqs)} requests")
    print("| path | seconds | vs plain |")
    print("|---|---|---|")
    for name, t in (("transformers, shared prompt pass", t_shared), ("transformers, plain padded batches", t_plain),
                    ("llama.cpp, one forced request per label", t_llama)):
        print(f"| {name} | {t:.1f} | {t_plain / t:.1f}x |")
    print(f"\nlargest difference shared vs plain: {diff:.2e} nats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
