"""The embedding classifier under Auto-Correct and embedding-classifier scoring (issue 13, item 4):
one pass on the noisy labels against the pruned second pass (scoring/label_model.py).

For each dataset: AUROC of the given label's out-of-fold probability for "this row is noisy",
and the relabel rule "replace the target by the top class when its probability is above t"
(changed / restored to the clean label / clean rows broken). The classifier sees only the
noisy labels; the clean ones are read here only to measure.

    python bench/label_model.py --datasets fpb30,fpb50,banking77-20 --work runs/label_model

`--embed varying` embeds only what varies between rows (the prompt less the prefix and suffix
that every row shares: FPB's instruction and option list, BANKING77's template).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import label_of, out_of_fold_matrix  # noqa: E402
from correct import noisy_and_clean  # noqa: E402  (bench/correct.py)
from detect import auroc  # noqa: E402  (bench/detect.py)

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)


def relabel(probs, classes, given: list[str], clean: list[str], t: float) -> tuple[int, int, int]:
    changed = restored = broken = 0
    for i, row in enumerate(probs):
        j = int(row.argmax())
        if classes[j] != given[i] and row[j] > t:
            changed += 1
            restored += classes[j] == clean[i]
            broken += given[i] == clean[i]
    return changed, restored, broken


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="fpb30,fpb50,banking77-20")
    p.add_argument("--banking-rows", type=int, default=3000)
    p.add_argument("--embed", choices=["prompt", "varying"], default="prompt",
                   help="embed the whole prompt (what clearft does) or only the text that varies")
    p.add_argument("--work", default="/tmp/clearft-bench-label-model")
    args = p.parse_args()
    import numpy as np

    from clearft.scoring.similarity import embed

    results = {}
    for name in args.datasets.split(","):
        work = Path(args.work) / name
        noisy, clean_targets = noisy_and_clean(name, args.banking_rows if name.startswith("banking") else None, work)
        examples = list(open_dataset(str(noisy)))
        given = [label_of(ex) for ex in examples]
        from dataclasses import replace

        clean = [label_of(replace(ex, response=c)) for ex, c in zip(examples, clean_targets, strict=True)]
        texts = [ex.prompt_text for ex in examples]
        if args.embed == "varying":
            import os

            prefix = len(os.path.commonprefix(texts))
            suffix = len(os.path.commonprefix([t[::-1] for t in texts]))
            texts = [t[prefix:len(t) - suffix] for t in texts]
        cache = work / ("embeddings.npy" if args.embed == "prompt" else "embeddings.varying.npy")
        if cache.exists():
            features = np.load(cache)
        else:
            features = embed(texts)
            np.save(cache, features)
        is_noisy = [g != c for g, c in zip(given, clean, strict=True)]
        out = {"rows": len(examples), "noisy": sum(is_noisy)}
        for prune in (False, True):
            started = time.monotonic()
            lp = out_of_fold_matrix(features, given, prune=prune)
            col = {c: j for j, c in enumerate(lp.classes)}
            score = [float(lp.probs[i, col[g]]) for i, g in enumerate(given)]
            key = "pruned" if prune else "one_pass"
            out[key] = {"auroc": round(auroc(score, is_noisy), 4), "C": lp.regularisation,
                        "pruned_rows": lp.pruned, "seconds": round(time.monotonic() - started, 1),
                        "relabel": {str(t): relabel(lp.probs, lp.classes, given, clean, t) for t in THRESHOLDS}}
        results[name] = out
        print(json.dumps({name: out}), flush=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    (Path(args.work) / f"result.{args.embed}.json").write_text(json.dumps(results, indent=1))
    print("\n| data | pass | AUROC | C | " + " | ".join(f"t={t}: changed/restored/broken" for t in THRESHOLDS) + " |")
    for name, out in results.items():
        for key in ("one_pass", "pruned"):
            r = out[key]
            cells = " | ".join("/".join(str(v) for v in r["relabel"][str(t)]) for t in THRESHOLDS)
            print(f"| {name} ({out['rows']} rows, {out['noisy']} noisy) | {args.embed}, {key} | {r['auroc']:.4f} | {r['C']} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
