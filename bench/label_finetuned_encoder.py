"""Does fine-tuning the sentence encoder itself, cross-fitted, give Auto-Correct a stronger
label view? (issue 13: the precision target, >= 40% of the noisy rows restored at >= 0.95)

Every rule measured so far reads *frozen* all-MiniLM-L6-v2 embeddings through a linear model
(bench/correct_rules.py): its top label disagrees with 13% of FPB-30's clean rows, and those
confident mistakes are what keeps precision under 0.95. The standard stronger label model is
the encoder fine-tuned end to end on the labels. Here it is cross-fitted like every other
view: K stratified folds of the given (noisy) labels; each fold's model is all-MiniLM-L6-v2
plus a linear head over mean-pooled tokens, fine-tuned on the other folds' rows — all of
them, or only those the pruned classifier's confident-learning filter keeps ("pruned", as
Auto-Correct's classifier does) — then predicts its own fold. No model ever sees the target
of a row it predicts; the clean labels are read only to measure.

It prints each view's AUROC for "this row is noisy" and the frontier of each rule
(bench/correct_rules.frontier: the most noisy rows restored at precision >= 0.95 with the
threshold chosen knowing the clean labels, an upper bound; the precision at 40% restored;
changed/restored/broken at t = 0.6 and 0.8). Probabilities are cached under
WORK/<dataset>/oof_ft_<variant>.npy.

    python bench/label_finetuned_encoder.py --dataset fpb30 --work runs/rules
    python bench/label_finetuned_encoder.py --dataset banking77-20 --work runs/rules
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import correct_rules  # noqa: E402  (bench/correct_rules.py)
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_encoder import EncoderSettings, out_of_fold_encoder  # noqa: E402
from clearft.scoring.label_model import label_issues  # noqa: E402
from correct import noisy_and_clean  # noqa: E402  (bench/correct.py)


def main() -> int:
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="fpb30")
    p.add_argument("--banking-rows", type=int, default=3000)
    p.add_argument("--work", default="runs/rules")
    p.add_argument("--variants", default="pruned,all", help="which training rows: pruned, all")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work) / args.dataset
    v = correct_rules.views(args.dataset, work, args.banking_rows)
    classes = v["classes"]
    col = {c: j for j, c in enumerate(classes)}
    given = np.array([col[c] for c in v["given"]])
    noisy = given != np.array([col[c] for c in v["clean"]])
    rows = np.arange(len(given))
    noisy_file, _ = noisy_and_clean(args.dataset, args.banking_rows if args.dataset.startswith("banking") else None, work)
    texts = [ex.prompt_text for ex in open_dataset(str(noisy_file))]
    flagged = label_issues(v["pruned"], given)
    ft: dict[str, Any] = {}
    for variant in args.variants.split(","):
        tag = f"{variant}_e{args.epochs}_lr{args.lr:g}"
        path = work / f"oof_ft_{tag}.npy"
        if not path.exists():
            keep = ~flagged if variant == "pruned" else np.ones(len(given), dtype=bool)
            started = time.monotonic()
            print(f"{args.dataset}, fine-tuned encoder ({tag}): {int(keep.sum())} of {len(given)} rows trainable")
            settings = EncoderSettings(folds=args.folds, epochs=args.epochs, lr=args.lr, batch_size=args.batch,
                                       max_length=args.max_length, seed=0)
            np.save(path, out_of_fold_encoder(texts, given.tolist(), len(classes), keep, settings,
                                              cache_dir=work / "encoder_folds", log=print))
            print(f"  {time.monotonic() - started:.0f} s in all", flush=True)
        ft[tag] = np.load(path)
    pruned, one, knn = v["pruned"], v["one_pass"], v["knn"]

    top, agree, margin = correct_rules.top_of, correct_rules.all_agree, correct_rules.margin_of
    single: dict[str, Any] = {"frozen embeddings, pruned (--label-model logreg)": pruned}
    combos: dict[str, tuple[Any, Any]] = {"frozen embeddings, pruned (--label-model logreg)": top(pruned)}
    for tag, m in ft.items():
        single[f"fine-tuned encoder, {tag}"] = m
        combos[f"fine-tuned encoder, {tag}"] = top(m)
        combos[f"fine-tuned {tag} and embeddings agree, min"] = agree(m, pruned)
        combos[f"mean of fine-tuned {tag} and embeddings"] = top((m + pruned) / 2)
        combos[f"fine-tuned {tag}, embeddings, one pass, kNN all agree"] = agree(m, pruned, one, knn)
        # session 13: the encoder as a third view of the ensemble label model (margin gate)
        words = v["words"]
        combos[f"mean of embeddings, words and fine-tuned {tag}, margin"] = margin((pruned + words + m) / 3, given)
        combos[f"mean of words and fine-tuned {tag}, margin"] = margin((words + m) / 2, given)
        combos[f"mean of embeddings and fine-tuned {tag}, margin"] = margin((pruned + m) / 2, given)
    combos["embeddings + words averaged, margin (the ensemble label model)"] = margin((pruned + v["words"]) / 2, given)
    if len(ft) > 1:
        combos["all fine-tuned variants agree, min"] = agree(*ft.values())
        combos["mean of all fine-tuned variants and embeddings"] = top((sum(ft.values()) + pruned) / (len(ft) + 1))
    combos["embeddings, one pass, kNN agree (session 8's best)"] = agree(pruned, one, knn)
    print(f"{args.dataset}: {int(noisy.sum())} noisy of {len(given)} rows")
    print("| view or rule | AUROC of P(given) | top label right (noisy rows / clean rows) | most restored at >= 0.95 (changed/restored/broken, score) | precision at 40% restored | t=0.6 | t=0.8 |")
    print("|---|---|---|---|---|---|---|")
    clean = np.array([col[c] for c in v["clean"]])
    for rule, (best, score) in combos.items():
        if rule in single:
            m = single[rule]
            auroc = f"{roc_auc_score(noisy, -m[rows, given]):.4f}"
            right = f"{int((m.argmax(1) == clean)[noisy].sum())} / {int((m.argmax(1) == clean)[~noisy].sum())}"
        else:
            auroc = right = "-"
        print(f"| {rule} | {auroc} | {right} | {correct_rules.frontier_cells(best, score, v)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
