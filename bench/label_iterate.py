"""A second relabelling round for the frozen `ensemble` label model (issue 13, session 17):
refit both views (sentence embeddings, word n-grams) on the labels the first round changed,
then read the margin of the refitted views against the *given* label. Each row's probabilities
still come from models that never saw that row, so the round stays out-of-sample.

    python bench/label_iterate.py banking77-20
    python bench/label_iterate.py fpb30

Reads the cached views of bench/correct_rules.py under runs/rules/<dataset>/ (computed there
when missing) and writes the second round's probabilities beside them. Prints, for round 1, the
second round and their mean: the most noisy rows restored at precision >= 0.95 (a cut chosen
knowing the clean labels: what the ranking allows) and changed / restored / broken at fixed
margins. The clean labels are read only to measure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import out_of_fold_matrix, word_features  # noqa: E402
from correct_rules import frontier, margin_of, noisy_and_clean, views  # noqa: E402  (bench/correct_rules.py)

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=["fpb30", "fpb50", "banking77-20"])
    p.add_argument("--eta", type=float, default=0.6, help="the first round's margin (the frozen default)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "rules")
    args = p.parse_args()
    import numpy as np

    work = args.work / args.dataset
    v = views(args.dataset, work, 3000)
    classes = v["classes"]
    col = {c: j for j, c in enumerate(classes)}
    given = np.array([col[c] for c in v["given"]])
    clean = np.array([col[c] for c in v["clean"]])
    first = (v["pruned"] + v["words"]) / 2
    best, margin = margin_of(first, given)
    path = work / f"round2_eta{args.eta}.npy"
    if not path.exists():
        noisy, _ = noisy_and_clean(args.dataset, 3000 if args.dataset.startswith("banking") else None, work)
        texts = [ex.prompt_text for ex in open_dataset(str(noisy))]
        changed = (best != given) & (margin >= args.eta)
        labels = [classes[i] for i in np.where(changed, best, given)]
        embeddings = out_of_fold_matrix(np.load(work / "embeddings.npy"), labels).probs
        words = out_of_fold_matrix(word_features(texts), labels).probs
        np.save(path, (embeddings + words) / 2)
    second = np.load(path)
    noisy_rows = int((given != clean).sum())
    for name, probs in (("round 1", first), ("round 2", second), ("mean of both", (first + second) / 2)):
        b, s = margin_of(probs, given)
        f = frontier(b, s, v)
        cells = []
        for t in (0.5, 0.6, 0.7):
            ch = (b != given) & (s >= t)
            restored, broken = int((ch & (b == clean)).sum()), int((ch & (given == clean)).sum())
            cells.append(f"{t}: {int(ch.sum())}/{restored}/{broken} ({restored / max(1, int(ch.sum())):.3f}, "
                         f"{restored / noisy_rows:.1%})")
        print(f"{args.dataset} {name}: most restored at >= 0.95 {f['best_share_at_095']:.1%} {f['at']}; "
              + "; ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
