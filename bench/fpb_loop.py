"""The whole CLEAR loop on RobustFT FPB at 30% noise, with the default model on this machine.

Test accuracy of (a) the untuned model, (b) a fine-tune on the noisy rows, (c) on the
Auto-Filtered rows, (d) after Auto-Correct and the second fine-tune, (e) a fine-tune on the
same rows with clean labels; plus how many targets Auto-Correct changed and how many of
those changes restored the clean label. labeled.csv is read ONLY to measure (and for (e)).

    python bench/fpb_loop.py --train-rows 400 --test-rows 150 \\
        --out bench/results/loop.md

Resumable: rerun the same command and finished stages are skipped (state.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FPB = ROOT.parent / "shared" / "data" / "robustft" / "fpb"


def take(src: Path, dst: Path, rows: int) -> list[dict[str, str]]:
    with src.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        records = [r for _, r in zip(range(rows), reader, strict=False)]
        fields = reader.fieldnames or []
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(records)
    return records


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def key(record: dict[str, Any]) -> tuple[str, str]:
    return record["question"], record["options"]


def partial_summary(run: Path) -> dict[str, Any]:
    """What a run that has not finished can already tell (state.json + eval_*.json)."""
    state = json.loads((run / "state.json").read_text()) if (run / "state.json").exists() else {}
    stages = state.get("stages", {})
    accuracy = {}
    for path in sorted(run.glob("eval_*.json")):
        res = json.loads(path.read_text())
        accuracy[path.stem.removeprefix("eval_")] = {"accuracy": res["accuracy"], "n": res["n"]}
    corrections = {name: {k: info.get(k) for k in ("judged", "replaced", "left_out", "reasons")}
                   for name, info in stages.items() if name.startswith("correct")}
    return {"stages": stages, "accuracy": accuracy, "corrections": corrections}


def timings(run: Path) -> dict[str, float]:
    path = run / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-rows", type=int, default=400)
    ap.add_argument("--test-rows", type=int, default=150)
    ap.add_argument("--noise", default="noisy30")
    ap.add_argument("--work", default=str(ROOT / "runs" / "fpb_loop"))  # git-ignored
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "loop.md"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=None, help="cap every fine-tune (smoke runs)")
    ap.add_argument("--train-batch-size", type=int, default=None, help="FinetuneConfig.batch_size")
    ap.add_argument("--grad-accum", type=int, default=None, help="FinetuneConfig.grad_accum")
    ap.add_argument("--epochs", type=float, default=None, help="FinetuneConfig.epochs")
    ap.add_argument("--lr", type=float, default=None, help="FinetuneConfig.learning_rate")
    ap.add_argument("--cross-fit", type=int, default=0,
                    help="score with K fold models (issue 8) instead of the default method")
    ap.add_argument("--no-baselines", action="store_true",
                    help="skip (a), (b) and (e): measured once, they do not depend on the scoring")
    ap.add_argument("--report-only", action="store_true",
                    help="write the table from what a (still running or killed) run has finished")
    ap.add_argument("--judge", default="auto", choices=["auto", "evidence", "llm"],
                    help="Auto-Correct's judge (CorrectConfig.judge)")
    ap.add_argument("--label-model", default=None, help="the evidence judge's label model (default: CorrectConfig's)")
    ap.add_argument("--judge-explain-tokens", type=int, default=128,
                    help="tokens of the judge's written explanation (0: none)")
    args = ap.parse_args(argv)

    from clearft.pipeline import RunConfig, run_pipeline, summary_table
    from clearft.pipeline.state import write_json_atomic
    from clearft.pipeline.toolkit import default_evaluate, default_finetune

    work = Path(args.work)
    noisy = take(FPB / "noisy" / f"{args.noise}.csv", work / "train_noisy.csv", args.train_rows)
    clean = take(FPB / "labeled.csv", work / "train_clean.csv", args.train_rows)
    take(FPB / "test.csv", work / "test.csv", args.test_rows)
    clean_label = {key(r): r["answer"] for r in clean}
    is_noisy = {key(n): n["answer"] != c["answer"] for n, c in zip(noisy, clean, strict=True)}

    from clearft.correction import CorrectConfig

    finetune = {k: v for k, v in {"max_steps": args.max_steps, "batch_size": args.train_batch_size,
                                  "grad_accum": args.grad_accum, "epochs": args.epochs,
                                  "learning_rate": args.lr}.items() if v is not None}
    load_before = os.getloadavg()
    correct = CorrectConfig(judge=args.judge, explain=args.judge_explain_tokens > 0,
                            explain_max_tokens=max(1, args.judge_explain_tokens),
                            **({"label_model": args.label_model} if args.label_model else {}))
    config = RunConfig(seed=args.seed, baseline_full=not args.no_baselines, finetune=finetune,
                       correct=correct, progress=False, cross_fit=args.cross_fit,
                       eval_untuned=not args.no_baselines)
    started = time.time()
    if args.report_only:
        summary = partial_summary(work / "run")
    else:
        summary = run_pipeline(work / "train_noisy.csv", work / "test.csv", work / "run", config,
                               log=lambda m: print(time.strftime("%H:%M:%S"), m, file=sys.stderr,
                                                   flush=True))

    # (e): the same rows with their clean labels, same settings.
    clean_eval = work / "eval_clean.json"
    if not clean_eval.exists() and not args.report_only and not args.no_baselines:
        print(time.strftime("%H:%M:%S"), "[clean] fine-tune + eval", file=sys.stderr, flush=True)
        model = default_finetune(work / "train_clean.csv", work / "model_clean", config)
        res = default_evaluate(str(model), work / "test.csv", config)
        write_json_atomic(clean_eval, res)
    clean_res = json.loads(clean_eval.read_text()) if clean_eval.exists() else None
    elapsed = time.time() - started

    run = work / "run"
    dropped = read_csv(run / "dropped.csv")
    corrected = read_csv(run / "corrected.csv")
    changed = [r for r in corrected if r.get("clearft_original_response")]
    restored = sum(r["answer"] == clean_label.get(key(r)) for r in changed)
    was_noisy = sum(is_noisy.get(key(r), False) for r in changed)
    noisy_total = sum(is_noisy.values())
    noisy_dropped = sum(is_noisy.get(key(r), False) for r in dropped)
    reasons = summary["corrections"].get("correct", {}).get("reasons", {})

    acc = summary["accuracy"]
    labels = [("(a) untuned", "untuned"), ("(b) fine-tuned on the noisy rows", "full"),
              ("(c) fine-tuned on the Auto-Filtered rows", "filtered"),
              ("(d) after Auto-Correct + second fine-tune", "corrected")]
    lines = [
        "# The whole CLEAR loop on RobustFT FPB, 30% noise (bench/fpb_loop.py)",
        "",
        "Command: `python bench/fpb_loop.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`",
        "",
        f"Machine: {os.cpu_count()}-core CPU, no GPU (load average {load_before[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end); "
        f"Python {platform.python_version()}. Default model: SmolLM2-135M-Instruct (embedded), "
        "LoRA (r=16, all linear layers; settings other than FinetuneConfig's defaults (lr 1e-3, one "
        f"epoch, effective batch 16): {json.dumps(finetune) if finetune else 'none'}), judge with "
        f"{args.judge_explain_tokens} explanation tokens, seed 0.",
        "",
        f"Data: the first {args.train_rows} rows of `fpb/noisy/{args.noise}.csv` "
        f"({noisy_total} of them noisy) and the first {args.test_rows} rows of `fpb/test.csv` — a "
        "subset, because fine-tuning on this shared CPU costs seconds per step. `labeled.csv` was "
        "used only to measure and for (e).",
        "",
        "| model | test accuracy | n |",
        "|---|---|---|",
    ]
    for text, label in labels:
        if label in acc:
            lines.append(f"| {text} | {acc[label]['accuracy']:.3f} | {acc[label]['n']} |")
        else:
            lines.append(f"| {text} | {'not run (--no-baselines)' if args.no_baselines and label in ('untuned', 'full') else 'not finished by the deadline'} | |")
    if clean_res is not None:
        lines.append(f"| (e) fine-tuned on the same rows, clean labels | {clean_res['accuracy']:.3f} | "
                     f"{clean_res['n']} |")
    else:
        lines.append(f"| (e) fine-tuned on the same rows, clean labels | {'not run (--no-baselines)' if args.no_baselines else 'not finished by the deadline'} | |")
    lines += [
        "",
        "| Auto-Filter and Auto-Correct | count |",
        "|---|---|",
        f"| rows dropped by Auto-Filter (scoring method: {summary['stages'].get('score', {}).get('method', 'auto')}) | {len(dropped)} |",
        f"| of which noisy (precision {noisy_dropped / max(1, len(dropped)):.2f}; recall {noisy_dropped / max(1, noisy_total):.2f}) | {noisy_dropped} |",
        *([f"| dropped rows whose target Auto-Correct changed | {len(changed)} |",
           f"| of those, the change restored the clean label | {restored} |",
           f"| of those, the original target was noisy | {was_noisy} |",
           f"| why the other dropped rows were not changed | {json.dumps(reasons, sort_keys=True)} |"]
          if "correct" in summary["stages"] else ["| Auto-Correct | not finished by the deadline |"]),
        "",
        ("Partial: written with --report-only while the run was still going; rerun the command "
         "without it to finish (finished stages are skipped)." if args.report_only else
         f"Wall time, all stages: {elapsed / 60:.0f} min."),
        "",
        "Stage wall times (s): `" + json.dumps(timings(run)) + "`",
        "",
        "```",
        summary_table(summary),
        "```",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
