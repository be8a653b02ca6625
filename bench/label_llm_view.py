"""Does the embedded LLM's own representation add an independent view for Auto-Correct?
(issue 13: the precision target, >= 40% of the noisy rows restored at precision >= 0.95)

The relabel rules of bench/correct_rules.py use three views from one sentence embedder. This
adds views from SmolLM2-135M-Instruct itself (the model being curated, never trained on the
targets): its hidden states, mean-pooled over the prompt's tokens at a middle and a late
layer, standardised, then the same out-of-fold pruned logistic regression
(scoring/label_model.out_of_fold_matrix). It prints each view's AUROC for "this row is
noisy" and the frontier of each combination (bench/correct_rules.frontier: the most noisy
rows restored at precision >= 0.95 with the threshold chosen knowing the clean labels, an
upper bound, and the precision at 40% restored). Hidden states are cached under
WORK/<dataset>/llm_hidden.npz; the clean labels are read only to measure.

    python bench/label_llm_view.py --dataset fpb30 --work runs/rules
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import correct_rules  # noqa: E402  (bench/correct_rules.py)
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import out_of_fold_matrix  # noqa: E402
from correct import noisy_and_clean  # noqa: E402  (bench/correct.py)

LAYERS = (10, 20)  # of SmolLM2-135M's 30: middle layers carry more of the sentence than the last


def hidden_states(name: str, work: Path, banking_rows: int) -> dict[str, Any]:
    """Mean-pooled hidden states of every prompt at LAYERS (cached)."""
    import numpy as np

    cache = work / "llm_hidden.npz"
    if not cache.exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from clearft.training.base_model import ensure_base_model

        path = ensure_base_model()
        tok = AutoTokenizer.from_pretrained(path)
        tok.padding_side = "right"
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        noisy, _ = noisy_and_clean(name, banking_rows if name.startswith("banking") else None, work)
        texts = [ex.prompt_text for ex in open_dataset(str(noisy))]
        pooled: dict[str, list[Any]] = {f"mean{layer}": [] for layer in LAYERS}
        with torch.no_grad():
            for start in range(0, len(texts), 32):
                enc = tok(texts[start:start + 32], return_tensors="pt", padding=True, truncation=True, max_length=256)
                out = model(**enc, output_hidden_states=True)
                mask = enc["attention_mask"].unsqueeze(-1).float()
                for layer in LAYERS:
                    pooled[f"mean{layer}"].append(((out.hidden_states[layer] * mask).sum(1) / mask.sum(1)).numpy())
        np.savez(cache, **{k: np.concatenate(parts) for k, parts in pooled.items()})
    return dict(np.load(cache))


def main() -> int:
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="fpb30")
    p.add_argument("--banking-rows", type=int, default=3000)
    p.add_argument("--work", default="runs/rules")
    args = p.parse_args()
    work = Path(args.work) / args.dataset
    v = correct_rules.views(args.dataset, work, args.banking_rows)
    col = {c: j for j, c in enumerate(v["classes"])}
    given = np.array([col[c] for c in v["given"]])
    noisy = given != np.array([col[c] for c in v["clean"]])
    rows = np.arange(len(given))
    llm = {}
    for key, x in hidden_states(args.dataset, work, args.banking_rows).items():
        path = work / f"oof_llm_{key}.npy"
        if not path.exists():
            np.save(path, out_of_fold_matrix(StandardScaler().fit_transform(x), v["given"]).probs)
        llm[key] = np.load(path)
    pruned, one, knn = v["pruned"], v["one_pass"], v["knn"]
    mid, late = llm["mean10"], llm["mean20"]

    top, agree = correct_rules.top_of, correct_rules.all_agree
    combos = {
        "embeddings, pruned (today's default)": top(pruned),
        "LLM layer 10, pruned": top(mid),
        "LLM layer 20, pruned": top(late),
        "embeddings and LLM layer 10 agree, min": agree(pruned, mid),
        "embeddings and LLM layer 20 agree, min": agree(pruned, late),
        "mean of embeddings, LLM 10, LLM 20": top((pruned + mid + late) / 3),
        "embeddings, one pass, kNN agree (session 8's best)": agree(pruned, one, knn),
        "embeddings, one pass, kNN, LLM 20 all agree": agree(pruned, one, knn, late),
    }
    print(f"{args.dataset}: {int(noisy.sum())} noisy of {len(given)} rows")
    print("| view or rule | AUROC of P(given) | most restored at >= 0.95 (changed/restored/broken, score) | precision at 40% restored | t=0.6 | t=0.8 |")
    print("|---|---|---|---|---|---|")
    for rule, (best, score) in combos.items():
        single = {"embeddings, pruned (today's default)": pruned, "LLM layer 10, pruned": mid, "LLM layer 20, pruned": late}
        auroc = f"{roc_auc_score(noisy, -single[rule][rows, given]):.4f}" if rule in single else "-"
        print(f"| {rule} | {auroc} | {correct_rules.frontier_cells(best, score, v)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
