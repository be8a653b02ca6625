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


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def key(record: dict[str, Any]) -> tuple[str, str]:
    return record["question"], record["options"]


class Reviewer:
    """The simulated person: knows the clean label of each training row (and nothing else
    reads these)."""

    def __init__(self, noisy_csv: Path, rows: int) -> None:
        noisy = read_csv(noisy_csv)
        clean = read_csv(FPB / "labeled.csv")[:rows]
        if len(noisy) != rows or [key(r) for r in noisy] != [key(r) for r in clean]:
            raise SystemExit(f"{noisy_csv} is not the first {rows} rows of FPB-30")
        self.clean = {key(c): c["answer"] for c in clean}
        if len(self.clean) != rows:
            raise SystemExit("duplicate (question, options) rows: clean labels would be ambiguous")
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
    from clearft.review.rank import rank_rows

    if kind == "ranked":
        return [(pool[i].id, pool[i].record) for i, _ in rank_rows([r.record for r in pool], budget)]
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
    if finetune_only:
        return None
    t1 = time.time()
    print(time.strftime("%H:%M:%S"), f"eval {model}", file=sys.stderr, flush=True)
    res = default_evaluate(str(model), test, config)
    res = {k: res[k] for k in ("metric", "accuracy", "n", "model", "unparsed")}
    res.update(timing, eval_s=round(time.time() - t1, 1), train=str(train), rows=len(read_csv(train)))
    write_json_atomic(result, res)
    return res


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
        f"Start: the finished loop in `{run}` (bench/fpb_loop.py on the first 400 rows of "
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
    ap.add_argument("--out", default=None, help="write the results markdown here")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    loop = Path(args.loop)
    run, work = loop / "run", Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    reviewer = Reviewer(loop / "train_noisy.csv", 400)
    budgets = [int(b) for b in args.budgets.split(",")]
    table = noise_table(run, work, reviewer, budgets)
    if args.train:
        res = train_and_eval(args.train, run, work, loop / "test.csv", args.finetune_only)
        print(json.dumps(res) if res else "fine-tuned; rerun without --finetune-only to evaluate")
        return 0
    text = render(args, argv, reviewer, table, run, work)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
