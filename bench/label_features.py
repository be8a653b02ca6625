"""Does a bag-of-words view help the embedding classifier? (issue 13: a better label model)

For one dataset, the out-of-fold label model (scoring/label_model.py, pruned pass) on
all-MiniLM-L6-v2 embeddings (what clearft uses), on TF-IDF word uni+bigrams, on both
concatenated, and the mean of the first two's probabilities: AUROC of the given label's
probability for "this row is noisy" and changed/restored/broken when relabelling above t.
The clean labels are read only to measure.

    python bench/label_features.py fpb30
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from clearft.data import open_dataset  # noqa: E402
from clearft.scoring.label_model import LabelProbabilities, label_of, out_of_fold_matrix  # noqa: E402
from clearft.scoring.similarity import embed  # noqa: E402
from correct import noisy_and_clean  # noqa: E402  (bench/correct.py)
from detect import auroc  # noqa: E402  (bench/detect.py)

name = sys.argv[1] if len(sys.argv) > 1 else "fpb30"
work = Path("/tmp/clearft-bench-label-features") / name
work.mkdir(parents=True, exist_ok=True)
THRESHOLDS = (0.6, 0.7, 0.8, 0.9)


def report(tag: str, lp: LabelProbabilities, given: list[str], clean: list[str]) -> None:
    col = {c: j for j, c in enumerate(lp.classes)}
    score = [float(lp.probs[i, col[g]]) for i, g in enumerate(given)]
    noisy = [g != c for g, c in zip(given, clean, strict=True)]
    cells = []
    for t in THRESHOLDS:
        changed = restored = broken = 0
        for i, row in enumerate(lp.probs):
            j = int(row.argmax())
            if lp.classes[j] != given[i] and row[j] > t:
                changed += 1
                restored += lp.classes[j] == clean[i]
                broken += given[i] == clean[i]
        cells.append(f"{changed}/{restored}/{broken}")
    print(f"| {tag} | {auroc(score, noisy):.4f} | " + " | ".join(cells) + " |", flush=True)


def main() -> int:
    noisy_file, clean_targets = noisy_and_clean(name, 3000 if name.startswith("banking") else None, work)
    examples = list(open_dataset(str(noisy_file)))
    given = [label_of(e) for e in examples]
    clean = [label_of(replace(e, response=c)) for e, c in zip(examples, clean_targets, strict=True)]
    texts = [e.prompt_text for e in examples]
    started = time.monotonic()
    embedded = embed(texts)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts).toarray()
    print(f"{name}: {len(examples)} rows, {sum(g != c for g, c in zip(given, clean, strict=True))} noisy")
    print("| features | AUROC | " + " | ".join(f"t={t}" for t in THRESHOLDS) + " |\n|---|---|" + "---|" * len(THRESHOLDS))
    by_embedding = out_of_fold_matrix(embedded, given)
    report("embeddings (clearft)", by_embedding, given, clean)
    by_words = out_of_fold_matrix(tfidf, given)
    report("TF-IDF", by_words, given, clean)
    report("both, concatenated", out_of_fold_matrix(np.hstack([embedded, tfidf]), given), given, clean)
    mean = LabelProbabilities((by_embedding.probs + by_words.probs) / 2, by_embedding.classes, None, 0.0)
    report("mean of the two models", mean, given, clean)
    print(f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
