"""Which relabel rule reaches precision >= 0.95 with >= 40% of the noisy rows restored?
(issue 13). Classifier-only rules first: they need no LLM.

For each dataset the embedding classifier's out-of-fold probabilities (the pruned pass that
Auto-Correct uses, the one pass on the noisy labels, and a kNN classifier on the same
embeddings) are computed once and cached under WORK/<dataset>/. Each rule proposes a label
per row and a score; a row is changed when the proposal differs from its given label and the
score is above a threshold. The clean labels are read only to measure.

For each rule and dataset it prints the frontier: the most noisy rows restored at precision
>= 0.95 (over every threshold), the precision when 40% of the noisy rows are restored, and
changed / restored / broken at a few fixed thresholds.

    python bench/correct_rules.py --datasets fpb30,banking77-20,fpb50 --work runs/rules
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import label_issues, label_of, out_of_fold_matrix, word_features  # noqa: E402
from correct import noisy_and_clean  # noqa: E402  (bench/correct.py)

TARGET_PRECISION = 0.95
TARGET_SHARE = 0.40


def views(name: str, work: Path, banking_rows: int) -> dict[str, Any]:
    """Given and clean labels, and every cached out-of-fold view of one dataset."""
    import numpy as np

    from clearft.scoring.similarity import embed

    work.mkdir(parents=True, exist_ok=True)
    noisy, clean_targets = noisy_and_clean(name, banking_rows if name.startswith("banking") else None, work)
    examples = list(open_dataset(str(noisy)))
    given = [label_of(ex) for ex in examples]
    clean = [label_of(replace(ex, response=c)) for ex, c in zip(examples, clean_targets, strict=True)]
    cache = work / "embeddings.npy"
    shared = work.parent / "fpb30" / "embeddings.npy"  # FPB-50 has FPB-30's prompts, row for row
    if not cache.exists() and name == "fpb50" and shared.exists():
        np.save(cache, np.load(shared))
    if not cache.exists():
        np.save(cache, embed([ex.prompt_text for ex in examples]))
    features = np.load(cache)
    out: dict[str, Any] = {"given": given, "clean": clean}
    # The word view (session 12): a logistic regression over TF-IDF words and word pairs, the
    # second half of the `ensemble` label model.
    words = work / "oof_words.npy"
    if not words.exists():
        np.save(words, out_of_fold_matrix(word_features([ex.prompt_text for ex in examples]), given).probs)
    out["words"] = np.load(words)
    for key, kwargs in (("pruned", {}), ("one_pass", {"prune": False}), ("knn", {"classifier": "knn", "prune": False})):
        path = work / f"oof_{key}.npy"
        meta = work / f"oof_{key}.json"
        if not path.exists():
            lp = out_of_fold_matrix(features, given, **kwargs)
            np.save(path, lp.probs)
            meta.write_text(json.dumps({"classes": lp.classes, "C": lp.regularisation, "pruned": lp.pruned}))
        out[key] = np.load(path)
        out["classes"] = json.loads(meta.read_text())["classes"]
    return out


Proposal = tuple[Any, Any]  # (proposed class index per row, score per row)


def rules(v: dict[str, Any]) -> dict[str, Callable[[], Proposal]]:
    import numpy as np

    classes = v["classes"]
    col = {c: j for j, c in enumerate(classes)}
    g = np.array([col[c] for c in v["given"]])
    rows = np.arange(len(g))
    p, one, knn = v["pruned"], v["one_pass"], v["knn"]

    def top(m: Any) -> Proposal:
        return m.argmax(axis=1), m.max(axis=1)

    def margin(m: Any) -> Proposal:
        return margin_of(m, g)

    def class_threshold(m: Any) -> Proposal:
        # confident learning's per-class thresholds: a class's mean self-confidence over the
        # rows given that class; the score is how far the proposal's probability clears it
        thr = np.array([m[g == j, j].mean() if (g == j).any() else 1.0 for j in range(len(classes))])
        best = m.argmax(axis=1)
        return best, m[rows, best] - thr[best]

    def agree(a: Any, b: Any) -> Proposal:
        # two views must name the same label; the score is the lower of their probabilities
        ba, bb = a.argmax(axis=1), b.argmax(axis=1)
        score = np.minimum(a[rows, ba], b[rows, ba])
        return ba, np.where(ba == bb, score, -1.0)

    def flagged_top(m: Any, flag_from: Any) -> Proposal:
        # only rows confident learning flags (on the one-pass probabilities) may change
        issues = label_issues(flag_from, g.tolist())
        best, score = m.argmax(axis=1), m.max(axis=1)
        return best, np.where(issues, score, -1.0)

    def noise_matrix(m: Any) -> Proposal:
        from clearft.correction import evidence

        post = evidence.label_posterior(m, g.tolist(), evidence.noise_matrix(g.tolist(), one))
        return top(post)

    return {
        "top-1 probability, pruned (today's default)": lambda: top(p),
        "top-1 probability, one pass": lambda: top(one),
        "top-1, mean of pruned and one pass": lambda: top((p + one) / 2),
        "margin: top-1 minus given label, pruned": lambda: margin(p),
        "per-class threshold (CL), pruned": lambda: class_threshold(p),
        "pruned and kNN agree, min probability": lambda: agree(p, knn),
        "one pass and kNN agree, min probability": lambda: agree(one, knn),
        "pruned and one pass agree, min probability": lambda: agree(p, one),
        "pruned, one pass and kNN all agree, min": lambda: (lambda b, s: (b, np.where(b == knn.argmax(axis=1), np.minimum(s, knn[rows, b]), -1.0)))(*agree(p, one)),
        "margin, pruned and kNN agree (min of margins)": lambda: (lambda b, s: (b, np.where(s > -1.0, np.minimum(p[rows, b] - p[rows, g], knn[rows, b] - knn[rows, g]), -1.0)))(*agree(p, knn)),
        "pruned, only rows CL flags": lambda: flagged_top(p, one),
        "margin, only rows CL flags": lambda: (lambda b, s: (b, np.where(label_issues(one, g.tolist()), s, -1.0)))(*margin(p)),
        "noise-matrix posterior of pruned": lambda: noise_matrix(p),
        "kNN alone": lambda: top(knn),
        "words (TF-IDF) alone, pruned": lambda: top(v["words"]),
        "embeddings + words averaged, top-1": lambda: top((p + v["words"]) / 2),
        "embeddings + words averaged, margin (the ensemble label model)": lambda: margin((p + v["words"]) / 2),
    }


def frontier(best: Any, score: Any, v: dict[str, Any]) -> dict[str, Any]:
    """Sweep the threshold down the score: the most restored at precision >= 0.95, the
    precision where 40% of the noisy rows are restored, and the counts at fixed thresholds."""
    import numpy as np

    classes = v["classes"]
    given, clean = v["given"], v["clean"]
    noisy = sum(a != b for a, b in zip(given, clean, strict=True))
    cand = [i for i in range(len(given)) if classes[int(best[i])] != given[i] and score[i] > -1.0]
    cand.sort(key=lambda i: -float(score[i]))
    restored = broken = 0
    best_share, share_at, prec_at_40 = 0.0, None, None
    for n, i in enumerate(cand, 1):
        restored += classes[int(best[i])] == clean[i]
        broken += given[i] == clean[i]
        prec = restored / n
        if prec >= TARGET_PRECISION and restored / noisy > best_share:
            best_share, share_at = restored / noisy, (n, restored, broken, round(float(score[i]), 3))
        if prec_at_40 is None and restored >= TARGET_SHARE * noisy:
            prec_at_40 = (round(prec, 3), round(float(score[i]), 3))
    fixed = {}
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        chosen = [i for i in cand if score[i] > t]
        fixed[str(t)] = (len(chosen), sum(classes[int(best[i])] == clean[i] for i in chosen),
                         sum(given[i] == clean[i] for i in chosen))
    right = sum(classes[int(best[i])] == clean[i] for i in range(len(given)) if given[i] != clean[i])
    return {"noisy": noisy, "top_right_on_noisy": right, "best_share_at_095": round(best_share, 3),
            "at": share_at, "precision_at_40pct": prec_at_40, "fixed": fixed,
            "auroc_like_ok": bool(np.isfinite(score).all())}


def top_of(m: Any) -> Proposal:
    """The top class of each row and its probability."""
    return m.argmax(axis=1), m.max(axis=1)


def margin_of(m: Any, given: Any) -> Proposal:
    """The top class of each row and its probability minus the given class's (the ensemble's gate)."""
    import numpy as np

    return m.argmax(axis=1), m.max(axis=1) - m[np.arange(len(m)), given]


def all_agree(*ms: Any) -> Proposal:
    """The first view's top class where every view's top class is the same, scored by the
    smallest of their probabilities of it (-1 where they disagree: never changed)."""
    import numpy as np

    rows = np.arange(len(ms[0]))
    best = ms[0].argmax(axis=1)
    same = np.all([m.argmax(axis=1) == best for m in ms], axis=0)
    return best, np.where(same, np.min([m[rows, best] for m in ms], axis=0), -1.0)


def frontier_cells(best: Any, score: Any, v: dict[str, Any]) -> str:
    """A rule's frontier as markdown cells: most restored at >= 0.95 (changed/restored/broken,
    threshold) | precision at 40% restored | t=0.6 | t=0.8."""
    f = frontier(best, score, v)
    at = "/".join(str(x) for x in f["at"][:3]) + f" (> {f['at'][3]})" if f["at"] else "-"
    p40 = f"{f['precision_at_40pct'][0]}" if f["precision_at_40pct"] else "never 40%"
    fixed = " | ".join("/".join(str(x) for x in f["fixed"][t]) for t in ("0.6", "0.8"))
    return f"{f['best_share_at_095']:.1%}: {at} | {p40} | {fixed}"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="fpb30,banking77-20,fpb50")
    p.add_argument("--banking-rows", type=int, default=3000)
    p.add_argument("--work", default="runs/rules")
    args = p.parse_args()
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        v = views(name, Path(args.work) / name, args.banking_rows)
        results[name] = {}
        for rule, make in rules(v).items():
            best, score = make()
            results[name][rule] = frontier(best, score, v)
            print(json.dumps({name: {rule: results[name][rule]}}), flush=True)
    Path(args.work, "result.json").write_text(json.dumps(results, indent=1))
    print("\n| data | rule | most restored at precision >= 0.95 (changed/restored/broken, score) | precision at 40% restored | t=0.6 | t=0.7 | t=0.8 | t=0.9 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, per_rule in results.items():
        for rule, r in per_rule.items():
            at = "/".join(str(x) for x in r["at"][:3]) + f" (> {r['at'][3]})" if r["at"] else "-"
            p40 = f"{r['precision_at_40pct'][0]} (> {r['precision_at_40pct'][1]})" if r["precision_at_40pct"] else "never 40%"
            cells = " | ".join("/".join(str(x) for x in r["fixed"][t]) for t in ("0.6", "0.7", "0.8", "0.9"))
            print(f"| {name} ({r['noisy']} noisy) | {rule} | {r['best_share_at_095']:.1%}: {at} | {p40} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
