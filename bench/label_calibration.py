"""The evidence judge's two readings of the frozen `ensemble` label model, on the same rows
(issue 13, session 17): the margin P(new) - P(given) at 0.6 (the frozen default before) and the
temperature-calibrated posterior at 0.95 (correction/evidence.temperature_posterior), with the
fit's identification check that decides, under `--calibration auto`, which one a run uses.

    python bench/label_calibration.py --datasets main,banking77-20,banking77-20-s1,banking77-20-s2,fpb30,fpb50

"banking77-20-sN" is BANKING77-20 drawn with noise seed N (another 3000 rows and other swaps:
held-out draws; seed 0 is the one the other benchmarks use). The frozen views (embeddings and
word n-grams, each the pruned out-of-fold logistic regression, averaged) are cached under
WORK/<dataset>/frozen.npy. The clean labels are read only to measure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.correction import evidence  # noqa: E402
from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import out_of_fold_matrix, word_features  # noqa: E402
from clearft.scoring.label_space import label_of  # noqa: E402
from correct import DATA, noisy_and_clean, write_records  # noqa: E402  (bench/correct.py)

ROOT = Path(__file__).resolve().parents[1]


def rows(name: str, work: Path) -> tuple[list[str], list[str], list[str]]:
    """(prompt texts, given labels, clean labels) of a dataset."""
    if name == "main":
        data = ROOT / "examples" / "data"
        clean = {ex.id: ex.response for ex in open_dataset(str(data / "banking77_noisy.clean.jsonl"))}
        examples = list(open_dataset(str(data / "banking77_noisy.jsonl")))
        targets = [clean[ex.id] for ex in examples]
    elif name.startswith("banking77-20-s"):
        import noise as noise_mod  # bench/noise.py

        noisy, clean_rows, _ = noise_mod.MAKERS["banking77"](DATA, 3000, 0.2, int(name.rsplit("-s", 1)[1]))
        write_records(str(work / "noisy.jsonl"), noisy)
        examples = list(open_dataset(str(work / "noisy.jsonl")))
        targets = [r["response"] for r in clean_rows]
    else:
        path, targets = noisy_and_clean(name, 3000 if name.startswith("banking") else None, work)
        examples = list(open_dataset(str(path)))
    given = [label_of(ex) for ex in examples]
    clean = [label_of(replace(ex, response=t)) for ex, t in zip(examples, targets, strict=True)]
    return [ex.prompt_text for ex in examples], given, clean


def frozen_views(texts: list[str], given: list[str], work: Path) -> tuple[Any, list[str]]:
    import numpy as np

    from clearft.scoring.similarity import embed

    cache, meta = work / "frozen.npy", work / "frozen.json"
    if not cache.exists():
        sentence = out_of_fold_matrix(embed(texts), given)
        words = out_of_fold_matrix(word_features(texts), given)
        np.save(cache, (sentence.probs + words.probs) / 2.0)
        meta.write_text(json.dumps({"classes": sentence.classes}))
    return np.load(cache), json.loads(meta.read_text())["classes"]


def counts(best: Any, score: Any, given: Any, clean: Any, cut: float) -> str:
    changed = (best != given) & (score > cut)
    restored = int((changed & (best == clean)).sum())
    broken = int((changed & (given == clean)).sum())
    n, noisy = int(changed.sum()), int((given != clean).sum())
    return f"{n} / {restored} / {broken} ({restored / max(1, n):.3f}, {restored / max(1, noisy):.1%})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="main,banking77-20,banking77-20-s1,banking77-20-s2,fpb30,fpb50")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "label_calibration")
    args = p.parse_args()
    import numpy as np

    print("| data | classes | noisy rows | temperature (at 2/3 the noise) | shift | identified | "
          "margin > 0.6: changed / restored / broken (precision, restored) | calibrated > 0.95 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        work = args.work / name
        work.mkdir(parents=True, exist_ok=True)
        texts, given_labels, clean_labels = rows(name, work)
        probs, classes = frozen_views(texts, given_labels, work)
        col = {c: j for j, c in enumerate(classes)}
        given = np.array([col[c] for c in given_labels])
        clean = np.array([col.get(c, -1) for c in clean_labels])
        post, fit = evidence.temperature_posterior(probs, given)
        t_less = evidence.fit_temperature(probs, given, fit["noise"] * 2.0 / 3.0)
        margin = probs.max(axis=1) - probs[np.arange(len(given)), given]
        print(f"| {name} | {len(classes)} | {int((given != clean).sum())} | {fit['temperature']:.3f} ({t_less:.3f}) | "
              f"{fit['temperature_shift']:.2f} | {'yes' if fit['identified'] else 'no'} | "
              f"{counts(probs.argmax(axis=1), margin, given, clean, 0.6)} | "
              f"{counts(post.argmax(axis=1), post.max(axis=1), given, clean, 0.95)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
