"""Where the FPB loop's gap between (d) corrected and (e) clean labels comes from.

Reads a finished `bench/fpb_loop.py` run (its filtered and corrected models and training
files) and, on ALL of FPB's test rows (303, so one standard error of an accuracy is ~2.6
points instead of ~3.6 on the loop's 150), evaluates:

    (c)  the filtered model                      kept rows, their given labels
    (c*) kept rows with their clean labels       what the kept rows' remaining noise costs
    (d)  the corrected model                     kept + corrected rows, labels as curated
    (d*) the same rows with their clean labels   what the curated labels' errors cost
    (e)  all training rows, clean labels         what the rows left out cost
    (d+) (d)'s rows + the rows Auto-Correct left out, with their given labels: whether
         bringing the doubtful rows back (a policy that needs no clean label) closes the gap

(c*), (d*) and (e) are fine-tuned here with the loop's own settings and seed. The clean
labels are read only to build these yardsticks and to measure, never by the curation run.
Differences are paired (the same test rows), with their standard error.

    python bench/fpb_loop_gap.py --loop runs/s13_loop --epochs 2 --out bench/results/loop_gap.md

Resumable: each model and evaluation is kept under --loop/gap/ and reused.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from fpb_loop import FPB, key, read_csv, take  # noqa: E402


def with_clean_labels(src: Path, dst: Path, clean: dict[tuple[str, str], str]) -> tuple[int, int]:
    """src's rows with each answer replaced by its clean label; (rows, labels changed)."""
    rows = read_csv(src)
    fields = ["question", "options", "answer"]
    changed = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            label = clean[key(r)]
            changed += label != r["answer"]
            w.writerow({"question": r["question"], "options": r["options"], "answer": label})
    return len(rows), changed


def concatenate(parts: list[Path], dst: Path) -> None:
    """The question/options/answer columns of several CSV files, one after another."""
    fields = ["question", "options", "answer"]
    with dst.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for part in parts:
            for r in read_csv(part):
                w.writerow({k: r[k] for k in fields})


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of b - a over the same test rows, and its standard error."""
    d = [y - x for x, y in zip(a, b, strict=True)]
    mean = sum(d) / len(d)
    var = sum((x - mean) ** 2 for x in d) / max(1, len(d) - 1)
    return mean, math.sqrt(var / len(d))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", required=True, help="a finished bench/fpb_loop.py --work folder")
    ap.add_argument("--epochs", type=float, default=2.0, help="as the loop's run (FinetuneConfig.epochs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-rows", type=int, default=10_000, help="first N rows of fpb/test.csv (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from clearft.pipeline import RunConfig
    from clearft.pipeline.state import write_json_atomic
    from clearft.pipeline.toolkit import default_evaluate, default_finetune

    loop = Path(args.loop)
    run = loop / "run"
    gap = loop / "gap"
    test = gap / "test.csv"
    take(FPB / "test.csv", test, args.test_rows)
    clean = {key(r): r["answer"] for r in read_csv(loop / "train_clean.csv")}
    config = RunConfig(seed=args.seed, finetune={"epochs": args.epochs}, progress=False)

    sets = {
        "c*": with_clean_labels(run / "kept.csv", gap / "kept_clean.csv", clean),
        "d*": with_clean_labels(run / "train_corrected.csv", gap / "corrected_clean.csv", clean),
    }
    concatenate([run / "train_corrected.csv", run / "uncorrected.csv"], gap / "corrected_plus_left_out.csv")
    plus_rows = read_csv(gap / "corrected_plus_left_out.csv")
    models = {
        "c": run / "model_filtered",
        "c*": gap / "model_kept_clean",
        "d": run / "model_corrected",
        "d*": gap / "model_corrected_clean",
        "e": gap / "model_clean",
        "d+": gap / "model_corrected_plus_left_out",
    }
    data = {"c*": gap / "kept_clean.csv", "d*": gap / "corrected_clean.csv", "e": loop / "train_clean.csv",
            "d+": gap / "corrected_plus_left_out.csv"}
    rows = {"c": len(read_csv(run / "kept.csv")), "d": len(read_csv(run / "train_corrected.csv")),
            "c*": sets["c*"][0], "d*": sets["d*"][0], "e": len(clean),
            "d+": len(plus_rows)}
    wrong = {"c": sets["c*"][1], "d": sets["d*"][1], "c*": 0, "d*": 0, "e": 0,
             "d+": sum(r["answer"] != clean[key(r)] for r in plus_rows)}
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for name, model in models.items():
        if name in data and not (model / "DONE").exists():
            started = time.time()
            print(time.strftime("%H:%M:%S"), f"[{name}] fine-tune on {data[name]}", file=sys.stderr, flush=True)
            default_finetune(data[name], model, config)
            seconds[f"finetune {name}"] = round(time.time() - started, 1)
        out = gap / f"eval_{name.replace('*', '_clean')}.json"
        if not out.exists():
            started = time.time()
            print(time.strftime("%H:%M:%S"), f"[{name}] evaluate", file=sys.stderr, flush=True)
            write_json_atomic(out, default_evaluate(str(model), test, config))
            seconds[f"eval {name}"] = round(time.time() - started, 1)
        results[name] = json.loads(out.read_text())

    correct = {n: [float(r["correct"]) for r in res["rows"]] for n, res in results.items()}
    n = len(correct["e"])
    lines = [
        "# The FPB loop's gap between (d) and (e), decomposed (bench/fpb_loop_gap.py)",
        "",
        f"Command: `python bench/fpb_loop_gap.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
        "",
        f"Test rows: {n} (fpb/test.csv). Fine-tunes: the loop's settings (LoRA, epochs {args.epochs:g}, "
        f"seed {args.seed}). Clean labels read only for the starred yardsticks and to count.",
        "",
        "| model | training rows | wrong labels among them | test accuracy |",
        "|---|---|---|---|",
    ]
    names = {"c": "(c) filtered (kept rows, given labels)", "c*": "(c*) kept rows, clean labels",
             "d": "(d) corrected (kept + corrected rows, curated labels)",
             "d*": "(d*) the same rows, clean labels", "e": "(e) all rows, clean labels",
             "d+": "(d+) (d)'s rows + the rows left out, given labels"}
    for name in models:
        if name not in results:
            continue
        lines.append(f"| {names[name]} | {rows[name]} | {wrong[name]} | {sum(correct[name]) / n:.3f} |")
    lines += ["", "| step (paired over the same test rows) | accuracy change | standard error |", "|---|---|---|"]
    for a, b, what in [("c", "d", "Auto-Correct: (c) -> (d)"), ("d", "e", "the whole gap: (d) -> (e)"),
                       ("c", "c*", "the kept rows' wrong labels: (c) -> (c*)"),
                       ("d", "d*", "the curated rows' wrong labels: (d) -> (d*)"),
                       ("d*", "e", "the rows left out: (d*) -> (e)"),
                       ("d", "d+", "the rows left out brought back with their given labels: (d) -> (d+)")]:
        mean, se = paired(correct[a], correct[b])
        lines.append(f"| {what} | {mean:+.3f} | {se:.3f} |")
    if seconds:
        lines += ["", "Seconds (this invocation): `" + json.dumps(seconds) + "`"]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
