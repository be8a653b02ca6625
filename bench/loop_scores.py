"""What the Score stage of a `bench/fpb_loop.py` run found, read from its work folder (no
model calls but the embedding baseline): AUROC and precision at the noise rate of the run's
scores and of embedding-classifier on the same rows, their averages, the fold models' predicted
labels (cross-fitted runs), and how Auto-Correct's candidates relate to the clean labels.

    python bench/loop_scores.py runs/fpb_loop400_cf

`train_clean.csv` is read only to measure.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect import auroc, precision_at  # noqa: E402  (bench/detect.py)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def key(r: dict[str, str]) -> tuple[str, str]:
    return r["question"], r["options"]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("work", type=Path, help="the --work folder of a bench/fpb_loop.py run")
    args = p.parse_args()
    from clearft.data import open_dataset
    from clearft.scoring import make_config, score_examples

    clean = {key(r): r["answer"] for r in read(args.work / "train_clean.csv")}
    scored = read(args.work / "run" / "scored.csv")
    noisy = [r["answer"] != clean[key(r)] for r in scored]
    rate = sum(noisy) / len(noisy)
    run_scores = [float(r["confidence"]) for r in scored]
    examples = list(open_dataset(args.work / "train_noisy.csv"))
    emb = [r.confidence or 0.0 for r in score_examples(examples, None, make_config(method="embedding-classifier"),
                                                         method="embedding-classifier")]
    method = scored[0]["clearft_method"]
    print(f"{len(scored)} rows, {sum(noisy)} noisy\n")
    print("| score | AUROC | precision@noise |\n|---|---|---|")
    for name, s in [(f"the run's ({method})", run_scores), ("embedding-classifier", emb)] + [
            (f"{w} x the run's + {1 - w:.1f} x embedding-classifier", [w * a + (1 - w) * b for a, b in zip(run_scores, emb, strict=True)])
            for w in (0.3, 0.5, 0.7)]:
        print(f"| {name} | {auroc(s, noisy):.3f} | {precision_at(s, noisy, rate):.3f} |")
    kept = read(args.work / "run" / "kept.csv")
    print(f"\nkept {len(kept)} rows, {sum(r['answer'] != clean[key(r)] for r in kept)} of them noisy")
    evidence = [json.loads(r["clearft_evidence"]) for r in scored]
    if method == "crossfit" and evidence and "predicted_label" in evidence[0]:
        predicted = [e["predicted_label"] for e in evidence]
        agree = sum(pr == clean[key(r)] for pr, r in zip(predicted, scored, strict=True))
        print(f"fold-model predictions {dict(Counter(predicted))}; agree with the clean label on {agree} of {len(scored)}")
    cands = read(args.work / "run" / "candidates.csv")
    outcome = Counter()
    for r in cands:
        cand, given, truth = r["clearft_candidate"].strip(), r["answer"], clean[key(r)]
        outcome["same as the target" if cand == given else "would fix" if given != truth and cand == truth
                else "would break" if given == truth else "other"] += 1
    print(f"candidates for {len(cands)} rows: {dict(outcome)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
