"""How well does each scoring method find the noisy rows? AUROC and precision@noise-rate.

Data (../shared/data): RobustFT FPB and ARC at 30% noise (noisy30.csv; labeled.csv only to
measure), banking77 with 20% of labels swapped for another intent, GSM8K with 20% of
solutions swapped between rows (both seeded, here). Prints a markdown table.

    python bench/detect.py --datasets fpb30 --methods embedding-classifier,self-reflection --rows 200
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

from clearft.data import open_dataset
from clearft.data.example import Example
from clearft.filtering import mixture_threshold
from clearft.scoring import Usage, make_config, score_examples

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def robustft(task: str, rows: int | None, seed: int, noise: int = 30) -> tuple[list[Example], list[bool]]:
    noisy = list(open_dataset(DATA / "robustft" / task / "noisy" / f"noisy{noise}.csv"))
    with (DATA / "robustft" / task / "labeled.csv").open(newline="", encoding="utf-8") as f:
        clean = [r["answer"] for r in csv.DictReader(f)]
    truth = [ex.response.strip() != c.strip() for ex, c in zip(noisy, clean, strict=True)]
    return subsample(noisy, truth, rows, seed)


def _from_noise(name: str, rows: int | None, seed: int) -> tuple[list[Example], list[bool]]:
    """banking77 / gsm8k noised by the team's seeded bench/noise.py (rate 0.2)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import noise  # bench/noise.py

    noisy, _clean, changed = noise.MAKERS[name](DATA, rows, 0.2, seed)
    prompt_key, response_key = ("prompt", "response") if name == "banking77" else ("question", "answer")  # gsm8k*
    examples = [Example(r["id"], [{"role": "user", "content": r[prompt_key]}], r[response_key]) for r in noisy]
    flipped = set(changed)
    return examples, [r["id"] in flipped for r in noisy]


def subsample(examples: list[Example], truth: list[bool], rows: int | None, seed: int) -> tuple[list[Example], list[bool]]:
    if not rows or rows >= len(examples):
        return examples, truth
    # Not random.Random(seed) itself: RobustFT drew its noisy rows with random.seed(0) and
    # random.sample, so the same generator would pick only noisy rows.
    idx = sorted(random.Random(f"clearft-subsample-{seed}").sample(range(len(examples)), rows))
    return [examples[i] for i in idx], [truth[i] for i in idx]


DATASETS = {
    "fpb30": lambda rows, seed: robustft("fpb", rows, seed),
    "fpb50": lambda rows, seed: robustft("fpb", rows, seed, noise=50),
    "arc30": lambda rows, seed: robustft("arc", rows, seed),
    "banking77-20": lambda rows, seed: _from_noise("banking77", rows, seed),
    "gsm8k-20": lambda rows, seed: _from_noise("gsm8k", rows, seed),
    "gsm8k-near-20": lambda rows, seed: _from_noise("gsm8k-near", rows, seed),
}


def auroc(scores: list[float], noisy: list[bool]) -> float:
    """P(a noisy row scores lower than a clean one), ties count half."""
    pos = [s for s, y in zip(scores, noisy, strict=True) if y]
    neg = [s for s, y in zip(scores, noisy, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    # Mann-Whitney U with average ranks.
    ranks: list[float] = [0.0] * len(ranked)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for t in range(i, j + 1):
            ranks[t] = (i + j) / 2 + 1
        i = j + 1
    rank_pos = sum(r for r, (_, y) in zip(ranks, ranked, strict=True) if y)
    u = rank_pos - len(pos) * (len(pos) + 1) / 2
    return 1.0 - u / (len(pos) * len(neg))


def precision_at(scores: list[float], noisy: list[bool], fraction: float) -> float:
    k = max(1, round(fraction * len(scores)))
    order = sorted(range(len(scores)), key=lambda i: scores[i])[:k]
    return sum(noisy[i] for i in order) / k


def cache_embeddings() -> None:
    """Embed each dataset once across methods and classifiers (the CPU is shared)."""
    from clearft.scoring import similarity

    original, memo = similarity.embed, {}

    def embed(texts, model_path=None, batch_size=64):  # type: ignore[no-untyped-def]
        key = (tuple(texts), model_path, batch_size)
        if key not in memo:
            memo[key] = original(texts, model_path, batch_size=batch_size)
        return memo[key]

    similarity.embed = embed  # type: ignore[assignment]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="fpb30")
    p.add_argument("--methods", default="embedding-classifier")
    p.add_argument("--rows", type=int, default=200, help="rows per dataset (0 = all)")
    p.add_argument("--preset", default="medium")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--similarity", default=None)
    p.add_argument("--compare", default=None, help="auto (default), answer (the paper) or reply")
    p.add_argument("--classifier", default=None)
    p.add_argument("--banking-rows", type=int, default=0, help="rows of banking77 (overrides --rows)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--cache", default=".clearft-cache/bench.sqlite")
    p.add_argument("--scores-dir", default=None, help="write per-row scores here (jsonl)")
    args = p.parse_args()
    cache_embeddings()

    backend = None
    rows_out = []
    print("| dataset | rows | noisy | method | settings | AUROC | precision@noise | auto-filter drop / precision | failed | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        rows = args.rows or None
        if name == "banking77-20" and args.banking_rows:
            rows = args.banking_rows
        examples, truth = DATASETS[name](rows, args.seed)
        rate = sum(truth) / len(truth)
        runs = [(m, c) for m in args.methods.split(",")
                for c in ((args.classifier or "logreg").split(",") if m == "embedding-classifier" else [None])]
        for method, classifier in runs:
            config = make_config(args.preset, method=method, sample_max_tokens=args.max_tokens, k=args.k,
                                 similarity=args.similarity, compare=args.compare, classifier=classifier,
                                 batch_size=args.batch_size)
            if method != "embedding-classifier" and backend is None:
                from clearft.backends.cache import open_backend

                backend = open_backend("llamacpp", cache=args.cache)
            usage = Usage()
            started = time.monotonic()
            if method == "embedding-classifier":
                results = score_examples(examples, None, config, usage, method=method)
            else:
                results = []
                for i in range(0, len(examples), config.batch_size):
                    results += score_examples(examples[i:i + config.batch_size], backend, config, usage, method=method)
                    print(f"  {name} {method}: {len(results)}/{len(examples)}", file=sys.stderr, flush=True)
            seconds = time.monotonic() - started
            failed = sum(r.confidence is None for r in results)
            scores = [0.5 if r.confidence is None else r.confidence for r in results]
            cut = mixture_threshold(scores)
            dropped = [s < cut for s in scores]
            n_drop = sum(dropped)
            auto_precision = sum(d and t for d, t in zip(dropped, truth, strict=True)) / n_drop if n_drop else float("nan")
            settings = {"embedding-classifier": f"classifier={config.classifier}",
                        "perplexity": "", "ifd": ""}.get(
                method, f"preset={config.preset} k={config.k} rounds={config.rounds} max_tokens={config.sample_max_tokens} sim={config.similarity} compare={config.compare}")
            row = (f"| {name} | {len(examples)} | {rate:.0%} | {method} | {settings} | {auroc(scores, truth):.3f} | "
                   f"{precision_at(scores, truth, rate):.3f} | {n_drop / len(scores):.0%} / {auto_precision:.3f} | "
                   f"{failed} | {seconds:.0f} |")
            print(row, flush=True)
            rows_out.append(row)
            if args.scores_dir:
                out = Path(args.scores_dir)
                out.mkdir(parents=True, exist_ok=True)
                with (out / f"{name}.{method}.{config.preset}.jsonl").open("w") as f:
                    for ex, r, t in zip(examples, results, truth, strict=True):
                        f.write(json.dumps({"id": ex.id, "noisy": t, **r.columns()}, default=str) + "\n")
    if backend is not None:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
