"""Cross-fitted confidence (issue 8) against zero-shot BSDetector and the embedding baseline,
all on the same rows. AUROC and precision at the true noise rate; prints a markdown table.

Stages, each saved to WORK/rows.json as it finishes (the CPU is shared; report what finished):
1. embedding-classifier (5-fold logistic regression on all-MiniLM-L6-v2 embeddings), all rows;
2. cross-fitted label probability: K fold models (clearft's trainer), all rows;
3. on the first --bsd-rows rows: zero-shot BSDetector (base model) and cross-fitted
   BSDetector (each row by its fold model), and their combinations with the label
   probability at several weights (the weight is chosen by this measurement).

    python bench/crossfit.py --dataset fpb30 --rows 240 --folds 2 --bsd-rows 40 --work /tmp/cf
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.scoring import Usage, make_config, score_examples  # noqa: E402
from clearft.scoring.crossfit import (  # noqa: E402
    DEFAULT_LABEL_WEIGHT,
    CrossFitConfig,
    combine,
    crossfit_examples,
    default_opener,
    fold_dir,
    label_set,
    normalises_over_labels,
    score_target_probability,
)
from detect import DATASETS, auroc, precision_at  # noqa: E402  (bench/detect.py)

WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.5, 0.3, 0.0)


def row(name: str, rows: int, scores: list[float], noisy: list[bool], seconds: float, note: str = "") -> str:
    rate = sum(noisy) / len(noisy)
    return (f"| {name} | {rows} | {auroc(scores, noisy):.3f} | {precision_at(scores, noisy, rate):.3f} "
            f"| {seconds:.0f} | {note} |")


def zero_shot_bsdetector(examples: list[Any], config: Any) -> tuple[list[float], float]:
    """The base model's BSDetector confidence of each row (a missing one counts 0.5) and the
    seconds it took: the zero-shot baseline of both tables (main's and --partial's)."""
    from clearft.backends.cache import open_backend

    started = time.monotonic()
    with open_backend("llamacpp", cache="off") as base:
        res = score_examples(examples, base, config, Usage(), method="bsdetector")
    return [r.confidence if r.confidence is not None else 0.5 for r in res], time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="fpb30")
    p.add_argument("--rows", type=int, default=240)
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--bsd-rows", type=int, default=40)
    p.add_argument("--preset", default="low", help="BSDetector preset for the zero-shot and fold-model runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=float, default=None, help="fold models' epochs (FinetuneConfig.epochs)")
    p.add_argument("--work", default="/tmp/clearft-bench-crossfit")
    p.add_argument("--partial", action="store_true",
                   help="while folds are still training: measure on the rows of the folds already "
                        "scored (WORK/folds/fold-*.scores.jsonl), BSDetector on the first --bsd-rows of them")
    args = p.parse_args()
    if args.partial:
        return partial(args)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    examples, noisy = DATASETS[args.dataset](args.rows, args.seed)
    saved_path = work / "rows.json"
    saved: dict = json.loads(saved_path.read_text()) if saved_path.is_file() else {}
    saved["noisy"] = noisy
    lines = ["| score | rows | AUROC | precision@noise | seconds | notes |", "|---|---|---|---|---|---|"]

    def save() -> None:
        saved_path.write_text(json.dumps(saved))

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    t = time.monotonic()
    if "embedding" not in saved:
        res = score_examples(examples, None, make_config(method="embedding-classifier"), method="embedding-classifier")
        saved["embedding"] = [r.confidence for r in res]
        saved["embedding_s"] = time.monotonic() - t
        save()
    emit(row("embedding-classifier (5-fold logreg)", len(examples), saved["embedding"], noisy, saved["embedding_s"]))

    finetune = {"epochs": args.epochs} if args.epochs else {}
    cf = CrossFitConfig(folds=args.folds, parts=("label-prob",), seed=args.seed, finetune=finetune)
    t = time.monotonic()
    if "label_prob" not in saved:
        res = crossfit_examples(examples, work / "folds", cf, make_config(), log=print)
        saved["label_prob"] = [r.confidence for r in res]
        saved["fold"] = [r.evidence["fold"] for r in res]
        saved["label_prob_s"] = time.monotonic() - t
        save()
    emit(row(f"cross-fitted label probability (K={args.folds})", len(examples), saved["label_prob"], noisy,
             saved["label_prob_s"], "includes the fine-tunes"))
    fold_lp = {f: ([saved["label_prob"][i] for i in range(len(examples)) if saved["fold"][i] == f],
                   [noisy[i] for i in range(len(examples)) if saved["fold"][i] == f]) for f in range(args.folds)}
    for f, (scores_f, noisy_f) in fold_lp.items():
        emit(row(f"— fold {f + 1}'s rows, cross-fitted label probability", len(scores_f), scores_f, noisy_f, 0))
    # Two views that never saw the row: the fold LLM and the embedding classifier, averaged
    # with a neutral weight fixed before looking (not tuned per dataset).
    both = [0.5 * a + 0.5 * b for a, b in zip(saved["label_prob"], saved["embedding"], strict=True)]
    emit(row("0.5 cross-fitted label probability + 0.5 embedding-classifier", len(examples), both, noisy, 0))
    # Averaging ranks instead of probabilities: immune to the two scales differing (the given
    # label's own probability above 20 labels is tiny), but no longer a probability.
    import numpy as np

    ranks = [np.argsort(np.argsort(v)) / (len(v) - 1) for v in (saved["label_prob"], saved["embedding"])]
    emit(row("rank average of the two (not a probability)", len(examples), list(0.5 * ranks[0] + 0.5 * ranks[1]),
             noisy, 0))
    # The same through clearft itself (parts label-prob + embedding-classifier): the finished folds'
    # scores are reused, the embedding part is added; it must equal the average above.
    t = time.monotonic()
    product = [r.confidence for r in crossfit_examples(
        examples, work / "folds", CrossFitConfig(folds=args.folds, parts=("label-prob", "embedding-classifier"),
                                                 seed=args.seed, finetune=finetune), make_config(), log=print)]
    gap = max(abs(a - b) for a, b in zip(product, both, strict=True))
    emit(row("clearft --cross-fit-parts label-prob,embedding-classifier", len(examples), product, noisy,
             time.monotonic() - t, f"max difference from the 0.5 + 0.5 average {gap:.1e}"))

    m = min(args.bsd_rows, len(examples))
    if m:
        sub, sub_noisy = examples[:m], noisy[:m]
        config = make_config(args.preset, method="bsdetector", batch_size=m)
        emit(row("embedding-classifier, same subset", m, saved["embedding"][:m], sub_noisy, 0))
        emit(row("cross-fitted label probability, same subset", m, saved["label_prob"][:m], sub_noisy, 0))
        opener = default_opener(cache="off")

        def by_fold_models(rows: list, fold_of: list[int], folds: int, score) -> list[float]:  # type: ignore[no-untyped-def]
            """score(rows, backend) for each fold's rows by that fold's model; unknown = 0.5."""
            out = [0.5] * len(rows)
            for fold in range(folds):
                idx = [i for i in range(len(rows)) if fold_of[i] == fold]
                backend = opener(fold_dir(work / "folds", fold, folds))
                try:
                    got = score([rows[i] for i in idx], backend)
                finally:
                    backend.close()
                for i, value in zip(idx, got, strict=True):
                    out[i] = value if value is not None else 0.5
            return out

        labels = label_set([ex.response for ex in examples], cf.max_label_values)
        if labels and not normalises_over_labels(labels, cf):
            # Many labels: label-prob above was the given label's own probability (one request
            # a row). Here the softmax over every label, by the same fold models, for comparison.
            if "label_prob_normalised" not in saved:
                t = time.monotonic()
                saved["label_prob_normalised"] = by_fold_models(
                    sub, saved["fold"], args.folds, lambda rows, backend: [
                        p for p, _ in score_target_probability(rows, backend, labels, Usage())])
                saved["label_prob_normalised_s"] = time.monotonic() - t
                save()
            ranks = [np.argsort(np.argsort(v)) for v in (saved["label_prob"][:m], saved["label_prob_normalised"])]
            emit(row(f"cross-fitted label probability normalised over all {len(labels)} labels", m,
                     saved["label_prob_normalised"], sub_noisy, saved["label_prob_normalised_s"],
                     f"{len(labels)} requests a row; rank correlation with the given label's own "
                     f"probability {np.corrcoef(*ranks)[0, 1]:.2f}"))
        if "zero_shot_bsd" not in saved:
            saved["zero_shot_bsd"], saved["zero_shot_bsd_s"] = zero_shot_bsdetector(sub, config)
            save()
        emit(row(f"zero-shot BSDetector ({args.preset})", m, saved["zero_shot_bsd"], sub_noisy, saved["zero_shot_bsd_s"]))
        if "crossfit_bsd" not in saved:
            t = time.monotonic()
            saved["crossfit_bsd"] = by_fold_models(
                sub, saved["fold"], args.folds, lambda rows, backend: [
                    r.confidence for r in score_examples(rows, backend, config, Usage(), method="bsdetector")])
            saved["crossfit_bsd_s"] = time.monotonic() - t
            save()
        emit(row(f"cross-fitted BSDetector ({args.preset})", m, saved["crossfit_bsd"], sub_noisy, saved["crossfit_bsd_s"]))
        for w in WEIGHTS:
            combined = [w * a + (1 - w) * b for a, b in zip(saved["label_prob"][:m], saved["crossfit_bsd"], strict=True)]
            emit(row(f"combined w={w} label-prob + {1 - w:.1f} cross-fitted BSDetector", m, combined, sub_noisy, 0))
        # clearft's own combination of all three parts (label-prob 0.5, the others 0.25 each)
        # against the default two, on the same subset.
        parts = {"label-prob": saved["label_prob"][:m], "embedding-classifier": saved["embedding"][:m]}
        for name, extra in (("label-prob + embedding-classifier (the default parts)", {}),
                            ("label-prob + embedding-classifier + cross-fitted BSDetector", {"bsdetector": saved["crossfit_bsd"]})):
            both = {**parts, **extra}
            scores = [combine({k: v[i] for k, v in both.items()}, DEFAULT_LABEL_WEIGHT) or 0.0 for i in range(m)]
            emit(row(name, m, scores, sub_noisy, 0))
    (work / "table.md").write_text("\n".join(lines) + "\n")
    return 0


def partial(args: argparse.Namespace) -> int:
    """The same table on the rows whose fold already finished (fold models are expensive on
    a shared CPU; this reports what is done while the rest trains)."""
    work = Path(args.work)
    examples, noisy = DATASETS[args.dataset](args.rows, args.seed)
    saved = json.loads((work / "rows.json").read_text())
    index = {ex.id: i for i, ex in enumerate(examples)}
    label_prob: dict[int, float] = {}
    fold_of: dict[int, int] = {}
    for path in sorted((work / "folds").glob("fold-*.scores.jsonl")):
        for line in path.read_text().splitlines()[1:]:
            r = json.loads(line)
            label_prob[index[r["id"]]] = r["confidence"]
            fold_of[index[r["id"]]] = r["clearft_evidence"]["fold"]
    if not label_prob:  # no fold finished yet: only zero-shot BSDetector on fold 1's rows
        fold_ids = json.loads((work / "folds" / "folds.json").read_text())["fold_of"]
        first = sorted(index[i] for i, f in fold_ids.items() if f == 0)[:args.bsd_rows]
        part_path = work / "partial.json"
        from clearft.backends.cache import open_backend

        t = time.monotonic()
        config = make_config(args.preset, method="bsdetector", batch_size=len(first))
        with open_backend("llamacpp", cache="off") as base:
            res = score_examples([examples[i] for i in first], base, config, Usage(), method="bsdetector")
        part_path.write_text(json.dumps({"rows": first, "zero_shot_bsd_s": time.monotonic() - t,
                                         "zero_shot_bsd": [r.confidence if r.confidence is not None else 0.5
                                                           for r in res]}))
        print(row(f"zero-shot BSDetector ({args.preset})", len(first), json.loads(part_path.read_text())
                  ["zero_shot_bsd"], [noisy[i] for i in first], time.monotonic() - t))
        return 0
    rows = sorted(label_prob)
    sub_noisy = [noisy[i] for i in rows]
    lines = ["| score | rows | AUROC | precision@noise | seconds | notes |", "|---|---|---|---|---|---|"]

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    emit(row("embedding-classifier (5-fold logreg on all rows), rows of finished folds", len(rows),
             [saved["embedding"][i] for i in rows], sub_noisy, 0))
    emit(row("cross-fitted label probability, rows of finished folds", len(rows),
             [label_prob[i] for i in rows], sub_noisy, 0))
    m = min(args.bsd_rows, len(rows))
    if m:
        bsd_rows = rows[:m]
        sub = [examples[i] for i in bsd_rows]
        bsd_noisy = [noisy[i] for i in bsd_rows]
        config = make_config(args.preset, method="bsdetector", batch_size=m)
        part_path = work / "partial.json"
        part = json.loads(part_path.read_text()) if part_path.is_file() else {}
        if part.get("rows") != bsd_rows:
            part = {"rows": bsd_rows}
        if "zero_shot_bsd" not in part:
            part["zero_shot_bsd"], part["zero_shot_bsd_s"] = zero_shot_bsdetector(sub, config)
            part_path.write_text(json.dumps(part))
        if "crossfit_bsd" not in part:
            t = time.monotonic()
            scores = [0.5] * m
            opener = default_opener(cache="off")
            for fold in sorted({fold_of[i] for i in bsd_rows}):
                idx = [j for j, i in enumerate(bsd_rows) if fold_of[i] == fold]
                backend = opener(fold_dir(work / "folds", fold, args.folds))
                try:
                    res = score_examples([sub[j] for j in idx], backend, config, Usage(), method="bsdetector")
                finally:
                    backend.close()
                for j, r in zip(idx, res, strict=True):
                    scores[j] = r.confidence if r.confidence is not None else 0.5
            part["crossfit_bsd"] = scores
            part["crossfit_bsd_s"] = time.monotonic() - t
            part_path.write_text(json.dumps(part))
        lp = [label_prob[i] for i in bsd_rows]
        emit(row("embedding-classifier, BSDetector subset", m, [saved["embedding"][i] for i in bsd_rows], bsd_noisy, 0))
        emit(row("cross-fitted label probability, BSDetector subset", m, lp, bsd_noisy, 0))
        emit(row(f"zero-shot BSDetector ({args.preset})", m, part["zero_shot_bsd"], bsd_noisy, part["zero_shot_bsd_s"]))
        emit(row(f"cross-fitted BSDetector ({args.preset})", m, part["crossfit_bsd"], bsd_noisy, part["crossfit_bsd_s"]))
        for w in WEIGHTS:
            combined = [w * a + (1 - w) * b for a, b in zip(lp, part["crossfit_bsd"], strict=True)]
            emit(row(f"combined {w} label-prob + {1 - w:.1f} cross-fitted BSDetector", m, combined, bsd_noisy, 0))
    (work / "table_partial.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
