"""A simulated human review on RobustFT FPB at 30% noise (issue 17): the clean labels play the
reviewer.

Starts from a finished CLEAR loop (bench/fpb_loop.py's work folder: the first 400 rows of
`fpb/noisy/noisy30.csv`, Auto-Filter, Auto-Correct, fine-tune; by default
runs/fpb_loop400_ev3). For each budget B (25, 50, 100 rows) and each way of picking rows:

- `ranked`: the top B of `clearft review`'s queue (clearft.review: the rows the filter dropped
  and Auto-Correct did not replace, by expected gain);
- `random`: B rows drawn at random from the same pool (the same budget spent without the
  ranking); the noise table averages 5 draws, a fine-tune uses draw 0;
- `random-all`: B rows drawn at random from all 400 training rows (a review without clearft;
  noise table only),

the reviewer answers each picked row with its clean label (keep when the target is already
clean, else replace it), the decisions go through `clearft apply` with the run directory, and
we measure the label noise left in the resulting training set and, with --train PICK:B, the
test accuracy of the model fine-tuned on it with the loop's fine-tuning settings.

The clean labels (`labeled.csv`) are read only by the simulated reviewer and to measure;
the loop that picked and ranked the rows never saw them.

    python bench/review_sim.py                      # the noise-left table (seconds)
    python bench/review_sim.py --train ranked:50    # fine-tune + eval one set; resumable
    python bench/review_sim.py --out bench/results/review.md   # write the results file

A fine-tune runs in `WORK/model_PICK_B` and resumes from its last checkpoint when killed
(clearft.training); `--finetune-only` stops before the evaluation, to split the work.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FPB = ROOT.parent / "shared" / "data" / "robustft" / "fpb"
PICKS = ("ranked", "random", "random-all")
RANDOM_DRAWS = 5
NOTES = "<!-- notes: kept by reruns -->"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fpb_loop import key, read_csv  # noqa: E402  (bench/fpb_loop.py: the loop's rows, read the same way)


class Reviewer:
    """The simulated person: knows the clean label of each training row (and nothing else
    reads these)."""

    def __init__(self, noisy_csv: Path, rows: int) -> None:
        noisy = read_csv(noisy_csv)
        clean = read_csv(FPB / "labeled.csv")[:rows]
        if len(noisy) != rows or [key(r) for r in noisy] != [key(r) for r in clean]:
            raise SystemExit(f"{noisy_csv} is not the first {rows} rows of FPB-30")
        self.clean = {key(c): c["answer"] for c in clean}
        if any(self.clean[key(c)] != c["answer"] for c in clean):
            raise SystemExit("a repeated (question, options) row with two clean labels: ambiguous")
        self.noisy = {key(n) for n, c in zip(noisy, clean, strict=True) if n["answer"] != c["answer"]}
        self.noisy_total = len(self.noisy)

    def decide(self, record: dict[str, Any], row_id: str) -> dict[str, Any]:
        truth = self.clean[key(record)]
        if record["answer"] == truth:
            return {"id": row_id, "decision": "keep", "reviewer": "simulated (clean labels)"}
        return {"id": row_id, "decision": "replace", "new_target": truth, "reviewer": "simulated (clean labels)"}

    def wrong(self, records: list[dict[str, Any]]) -> int:
        return sum(r["answer"] != self.clean[key(r)] for r in records)

    def fixed(self, records: list[dict[str, Any]]) -> int:
        """Rows noisy in the input that are in the training set with their clean label."""
        return sum(key(r) in self.noisy and r["answer"] == self.clean[key(r)] for r in records)


def pool_and_all(run: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """The review pool (clearft.review.load.load_pool: what `clearft review RUN` ranks) and
    every training row of the run (scored file) with its id."""
    from clearft.review.load import load_pool

    pool = load_pool(run)
    return pool, read_csv(run / "scored.csv")


def pick(kind: str, budget: int, draw: int, pool: list[Any], all_rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(id, record) of the rows the reviewer looks at."""
    from clearft.review.build import queue_rows

    if kind == "ranked":  # exactly the rows `clearft review RUN --top B` queues
        by_id = {r.id: r for r in pool}
        return [(q["id"], by_id[q["id"]].record) for q in queue_rows(pool, budget)]
    rng = random.Random(1000 * draw + budget)
    if kind == "random":
        return [(r.id, r.record) for r in rng.sample(pool, min(budget, len(pool)))]
    return [(r["id"], r) for r in rng.sample(all_rows, min(budget, len(all_rows)))]


def simulate(kind: str, budget: int, draw: int, run: Path, work: Path, reviewer: Reviewer,
             pool: list[Any], all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the decisions and the reviewed training set; measure its noise."""
    from clearft.review import apply_decisions

    picked = pick(kind, budget, draw, pool, all_rows)
    decisions = [reviewer.decide(rec, rid) for rid, rec in picked]
    name = f"{kind}_{budget}" + (f"_d{draw}" if draw else "")
    dec_path = work / f"decisions_{name}.jsonl"
    dec_path.write_text("".join(json.dumps(d) + "\n" for d in decisions), encoding="utf-8")
    train = work / f"train_{name}.csv"
    apply_decisions(dec_path, run, train, dropped_path=work / f"train_{name}.dropped.csv")
    rows = read_csv(train)
    return {"train": str(train), "rows": len(rows), "wrong": reviewer.wrong(rows), "fixed": reviewer.fixed(rows),
            "reviewed_noisy": sum(d["decision"] == "replace" for d in decisions),
            "reviewed": len(decisions)}


def noise_table(run: Path, work: Path, reviewer: Reviewer, budgets: list[int]) -> list[dict[str, Any]]:
    pool, all_rows = pool_and_all(run)
    base_rows = read_csv(run / "train_corrected.csv")
    out = [{"pick": "none (after Auto-Correct)", "budget": 0, "rows": len(base_rows),
            "wrong": reviewer.wrong(base_rows), "fixed": reviewer.fixed(base_rows), "reviewed_noisy": 0,
            "draws": 1}]
    for budget in budgets:
        for kind in PICKS:
            draws = 1 if kind == "ranked" else RANDOM_DRAWS
            res = [simulate(kind, budget, d, run, work, reviewer, pool, all_rows) for d in range(draws)]
            out.append({"pick": kind, "budget": budget, "draws": draws,
                        **{k: sum(r[k] for r in res) / draws for k in ("rows", "wrong", "fixed", "reviewed_noisy")}})
    return out


def all_rows_table(work: Path, budgets: list[int]) -> dict[str, Any]:
    """The same review on all 1585 FPB-30 rows after Auto-Correct without a model (the evidence
    judge with the embedding classifier, every row a candidate, eta 0.8: bench/correct.py's
    setting): nothing is filtered, so every reviewed noisy row is one wrong label less."""
    from clearft.correction import CorrectConfig, correct_file
    from clearft.review import apply_decisions
    from clearft.review.build import queue_rows
    from clearft.review.load import read_rows
    from clearft.review.rank import is_replaced

    d = work / "all"
    d.mkdir(parents=True, exist_ok=True)
    noisy_rows = read_csv(FPB / "noisy" / "noisy30.csv")
    noisy = d / "noisy.csv"
    if not noisy.exists():
        with noisy.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(noisy_rows[0]))
            w.writeheader()
            w.writerows(noisy_rows)
    reviewer = Reviewer(noisy, len(noisy_rows))
    corrected = d / "corrected.csv"
    if not corrected.exists():
        t0 = time.time()
        partial = d / "corrected.partial.csv"
        correct_file(noisy, partial, None, CorrectConfig(eta=0.8, judge="evidence"), all_rows=True)
        partial.rename(corrected)
        (d / "correct_seconds.txt").write_text(f"{time.time() - t0:.1f}\n")
    pool = read_rows(corrected)
    open_rows = [r for r in pool if not is_replaced(r.record)]
    base = read_csv(corrected)
    table = [{"pick": "none (after Auto-Correct)", "budget": 0, "wrong": reviewer.wrong(base),
              "reviewed_noisy": 0.0}]
    for budget in budgets:
        for kind in ("ranked", "random"):
            draws = 1 if kind == "ranked" else RANDOM_DRAWS
            wrong = noisy_seen = 0.0
            for draw in range(draws):
                if kind == "ranked":
                    by_id = {r.id: r for r in pool}
                    picked = [by_id[q["id"]] for q in queue_rows(pool, budget)]
                else:
                    picked = random.Random(1000 * draw + budget).sample(open_rows, budget)
                decisions = [reviewer.decide(r.record, r.id) for r in picked]
                dec = d / f"decisions_{kind}_{budget}_d{draw}.jsonl"
                dec.write_text("".join(json.dumps(x) + "\n" for x in decisions), encoding="utf-8")
                out = d / f"reviewed_{kind}_{budget}_d{draw}.csv"
                apply_decisions(dec, corrected, out, dropped_path=d / f"reviewed_{kind}_{budget}_d{draw}.dropped.csv")
                wrong += reviewer.wrong(read_csv(out)) / draws
                noisy_seen += sum(x["decision"] == "replace" for x in decisions) / draws
            table.append({"pick": kind, "budget": budget, "wrong": wrong, "reviewed_noisy": noisy_seen})
    return {"rows": len(base), "noisy": reviewer.noisy_total, "open": len(open_rows), "table": table,
            "seconds": (d / "correct_seconds.txt").read_text().strip() if (d / "correct_seconds.txt").exists() else "?"}


def train_and_eval(spec: str, run: Path, work: Path, test: Path, finetune_only: bool) -> dict[str, Any] | None:
    from clearft.pipeline import RunConfig
    from clearft.pipeline.state import write_json_atomic
    from clearft.pipeline.toolkit import default_evaluate, default_finetune

    kind, budget = spec.split(":")
    name = f"{kind}_{int(budget)}"
    train = work / f"train_{name}.csv"
    if not train.exists():
        raise SystemExit(f"{train} missing: run without --train first")
    state = json.loads((run / "state.json").read_text())["settings"]
    # The loop's own fine-tuning settings (epochs 2 for runs/fpb_loop400_ev3), seed 0.
    config = RunConfig(seed=state["seed"], finetune=state["finetune"], progress=False)
    result = work / f"eval_{name}.json"
    if result.exists():
        return json.loads(result.read_text())
    t0 = time.time()
    print(time.strftime("%H:%M:%S"), f"fine-tune on {train}", file=sys.stderr, flush=True)
    model = default_finetune(train, work / f"model_{name}", config)
    timing = {"finetune_s": round(time.time() - t0, 1)}
    # A fine-tune that ran here for long leaves the evaluation to the next call, so each call
    # stays one piece of at most ~15 minutes on the shared machine.
    if finetune_only or timing["finetune_s"] > 400:
        return None
    t1 = time.time()
    print(time.strftime("%H:%M:%S"), f"eval {model}", file=sys.stderr, flush=True)
    res = default_evaluate(str(model), test, config)
    res = {k: res[k] for k in ("metric", "accuracy", "n", "model", "unparsed")}
    res.update(timing, eval_s=round(time.time() - t1, 1), train=str(train), rows=len(read_csv(train)))
    write_json_atomic(result, res)
    return res


def render_all(res: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## All {res['rows']} FPB-30 rows, Auto-Correct without a model",
        "",
        f"`fpb/noisy/noisy30.csv` ({res['noisy']} noisy rows), Auto-Correct with the evidence judge on the "
        "embedding classifier alone, every row a candidate, eta 0.8 (bench/correct.py's setting; "
        f"{res['seconds']} s), nothing filtered. The review queue is `clearft review corrected.csv`: the "
        f"{res['open']} rows it did not replace, by expected gain (no confidence score here: the gain is the "
        f"correction's doubt about the target alone); `random` draws from the same {res['open']} rows (mean of {RANDOM_DRAWS} draws). Every "
        "reviewed noisy row gets its clean label, so the noise left is the wrong labels not reviewed.",
        "",
        "| budget | pick | reviewed rows that were noisy | wrong labels left | label noise |",
        "|---|---|---|---|---|",
    ]
    for r in res["table"]:
        lines.append(f"| {r['budget']} | {r['pick']} | {r['reviewed_noisy']:.1f} | {r['wrong']:.1f} | "
                     f"{r['wrong'] / res['rows']:.1%} |")
    return lines


def render(args: argparse.Namespace, argv: list[str], reviewer: Reviewer, table: list[dict[str, Any]],
           run: Path, work: Path) -> str:
    summary = json.loads((run / "summary.json").read_text())
    base_acc = summary["accuracy"]["corrected"]["accuracy"]
    lines = [
        "# Simulated review on RobustFT FPB at 30% noise (bench/review_sim.py)",
        "",
        "Command: `python bench/review_sim.py " + " ".join(argv) + "` (the table); accuracies from "
        "`python bench/review_sim.py --train PICK:B` for each row that has one, one fine-tune at a time.",
        "",
        f"Machine: {os.cpu_count()}-core CPU shared with other jobs, no GPU; Python "
        f"{platform.python_version()}; default model SmolLM2-135M-Instruct, LoRA with the loop's "
        "fine-tuning settings (`" + json.dumps(json.loads((run / 'state.json').read_text())['settings']['finetune'])
        + "`, seed 0), test = the first 150 rows of `fpb/test.csv`.",
        "",
        f"Start: the finished loop in `{run.resolve().relative_to(ROOT) if run.resolve().is_relative_to(ROOT) else run}` (bench/fpb_loop.py on the first 400 rows of "
        f"`fpb/noisy/noisy30.csv`, {reviewer.noisy_total} of them noisy): Auto-Filter dropped rows, "
        "Auto-Correct replaced some, the rest were left out of the training set "
        f"(`train_corrected.csv`, test accuracy {base_acc:.3f}). The review pool is what `clearft review "
        "RUN` ranks: the dropped rows Auto-Correct did not replace.",
        "",
        "The reviewer is simulated with the clean labels (`labeled.csv`): for each picked row, `keep` "
        "when its target is clean, else `replace` with the clean label; the decisions go through "
        "`clearft apply DECISIONS --data RUN` (kept and replaced rows come back into the training set). "
        "Nothing the loop or the ranking ran on saw the clean labels.",
        "",
        f"Picks: `ranked` = the top B of the review queue; `random` = B rows at random from the same pool "
        f"(mean of {RANDOM_DRAWS} draws; the fine-tune uses draw 0); `random-all` = B rows at random from "
        "all 400 training rows (a review without clearft's pool; mean of "
        f"{RANDOM_DRAWS} draws, no fine-tune).",
        "",
        f"| budget | pick | training rows | wrong labels in them | label noise | reviewed rows that were noisy | of the {reviewer.noisy_total} noisy rows: in training, fixed | left out or still wrong | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        acc = ""
        if r["budget"] == 0:
            acc = f"{base_acc:.3f} (the loop)"
        elif r["pick"] != "random-all":
            path = work / f"eval_{r['pick']}_{r['budget']}.json"
            if path.exists():
                res = json.loads(path.read_text())
                acc = f"{res['accuracy']:.3f} (n={res['n']})"
            else:
                acc = "not run"
        lines.append(f"| {r['budget']} | {r['pick']} | {r['rows']:.1f} | {r['wrong']:.1f} | "
                     f"{r['wrong'] / max(1, r['rows']):.1%} | {r['reviewed_noisy']:.1f} | {r['fixed']:.1f} | "
                     f"{reviewer.noisy_total - r['fixed']:.1f} | {acc} |")
        old = work / f"train_{r['pick']}_{r['budget']}_gain1.csv"
        if r["pick"] == "ranked" and old.exists():  # the queue under the first gain formula
            rows = read_csv(old)
            res_path = work / f"eval_{r['pick']}_{r['budget']}_gain1.json"
            acc = (f"{json.loads(res_path.read_text())['accuracy']:.3f} (n={json.loads(res_path.read_text())['n']})"
                   if res_path.exists() else "not run")
            dec = [json.loads(x) for x in (work / f"decisions_{r['pick']}_{r['budget']}_gain1.jsonl").read_text().splitlines()]
            fixed = reviewer.fixed(rows)
            lines.append(f"| {r['budget']} | ranked by the first gain formula | {len(rows)} | {reviewer.wrong(rows)} | "
                         f"{reviewer.wrong(rows) / len(rows):.1%} | {sum(d['decision'] == 'replace' for d in dec)} | "
                         f"{fixed} | {reviewer.noisy_total - fixed} | {acc} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", default=str(ROOT / "runs" / "fpb_loop400_ev3"),
                    help="bench/fpb_loop.py's work folder (train_noisy.csv, test.csv, run/)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "review_sim"))  # git-ignored
    ap.add_argument("--budgets", default="25,50,100")
    ap.add_argument("--train", default=None, metavar="PICK:B",
                    help="fine-tune on the reviewed set PICK (ranked or random) at budget B, then evaluate")
    ap.add_argument("--finetune-only", action="store_true", help="with --train: stop before the evaluation")
    ap.add_argument("--evaluate", default=None, metavar="NAME",
                    help="evaluate the finished WORK/model_NAME into WORK/eval_NAME.json (e.g. ranked_50_gain1, "
                         "the set ranked by the first gain formula, kept for the record)")
    ap.add_argument("--out", default=None, help="write the results markdown here")
    ap.add_argument("--all-rows", action="store_true",
                    help="also the noise table on all 1585 FPB-30 rows (Auto-Correct without a model first; "
                         "a minute or two of embedding, done once)")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    loop = Path(args.loop)
    run, work = loop / "run", Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    reviewer = Reviewer(loop / "train_noisy.csv", 400)
    budgets = [int(b) for b in args.budgets.split(",")]
    table = noise_table(run, work, reviewer, budgets)
    if args.evaluate:
        from clearft.pipeline import RunConfig
        from clearft.pipeline.state import write_json_atomic
        from clearft.pipeline.toolkit import default_evaluate

        t0 = time.time()
        res = default_evaluate(str(work / f"model_{args.evaluate}"), loop / "test.csv", RunConfig(progress=False))
        res = {k: res[k] for k in ("metric", "accuracy", "n", "model", "unparsed")}
        res["eval_s"] = round(time.time() - t0, 1)
        write_json_atomic(work / f"eval_{args.evaluate}.json", res)
        print(json.dumps(res))
        return 0
    if args.train:
        res = train_and_eval(args.train, run, work, loop / "test.csv", args.finetune_only)
        print(json.dumps(res) if res else "fine-tuned; rerun without --finetune-only to evaluate")
        return 0
    text = render(args, argv, reviewer, table, run, work)
    if args.all_rows:
        text += "\n".join(render_all(all_rows_table(work, budgets))) + "\n"
    if args.out:
        out = Path(args.out)
        # Hand-written notes after the marker survive a rerun.
        old = out.read_text(encoding="utf-8") if out.exists() else ""
        if NOTES in old:
            text += "\n" + old[old.index(NOTES):]
        out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
