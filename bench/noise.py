"""Seeded noise injection for benchmarks: known-bad targets to measure detection against.

    python bench/noise.py banking77 --rate 0.2 --seed 0 --n 200 -o DIR
    python bench/noise.py banking77 --intents 8 --n 400 --test 120 -o DIR  (the main job's slice)
    python bench/noise.py gsm8k --rate 0.2 --seed 0 --n 500 -o DIR

writes, in DIR:
  <name>_noisy.jsonl         the noisy records ({"id", "prompt", "response"} for banking77,
                             {"id", "question", "answer"} for gsm8k), in a seeded random order
  <name>_noisy.changed.json  a JSON list of the ids whose target was changed (to measure only)
  <name>_noisy.clean.jsonl   the same records with their original targets (to measure only)

banking77: a `rate` share of the rows get another intent, drawn at random from the other 76.
With `--intents K`, only K intents (a seeded sample) are used, the prompt lists them, and a
swapped label is one of the other K-1 (`--short-prompt`: the prompt does not list them, which
halves a row's tokens and the fine-tuning time; measured on the main job's slice it also lost
curation's gain, bench/results/demo.md, so the bundled slice keeps the list); `--test N` also writes <name>_test.jsonl, N rows of
banking77's test split with the same intents (clean: it is for evaluation).
gsm8k: a `rate` share of the rows swap worked solutions among themselves (a derangement, so
every chosen row ends up with another question's solution).
gsm8k-near: a `rate` share of the rows keep their own solution with a wrong final number (a
near miss: the number after '####', and wherever it appears in the last step, moved by a
seeded offset), the harder kind of bad target: right topic, wrong result.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

BANKING77_PROMPT = "Classify the intent of this banking customer query. Query: {text}\nIntent:"
BANKING77_CHOICES_PROMPT = ("Classify the intent of this banking customer query as one of: {intents}.\n"
                            "Query: {text}\nIntent:")


def pick_rows(total: int, n: int | None, rng: random.Random) -> list[int]:
    """n distinct row indices in a seeded random order (all rows, shuffled, if n is None)."""
    n = total if n is None else min(n, total)
    return rng.sample(range(total), n)


def pick_changed(n: int, rate: float, rng: random.Random) -> list[int]:
    """Positions to corrupt: round(rate * n) of them, sorted."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    return sorted(rng.sample(range(n), round(rate * n)))


def swap_labels(labels: Sequence[str], choices: Sequence[str], rate: float,
                rng: random.Random) -> tuple[list[str], list[int]]:
    """Replace a `rate` share of labels by a different label from `choices`."""
    noisy = list(labels)
    changed = pick_changed(len(labels), rate, rng)
    for i in changed:
        noisy[i] = rng.choice([c for c in choices if c != labels[i]])
    return noisy, changed


def swap_between_rows(values: Sequence[str], rate: float,
                      rng: random.Random) -> tuple[list[str], list[int]]:
    """Swap a `rate` share of values among themselves so that none keeps its own."""
    noisy = list(values)
    chosen = pick_changed(len(values), rate, rng)
    if len(chosen) == 1:  # nothing to swap with: take a value from a row not chosen
        others = [i for i in range(len(values)) if i != chosen[0]]
        if others:
            noisy[chosen[0]] = values[rng.choice(others)]
    else:
        order = list(chosen)
        rng.shuffle(order)
        for k, i in enumerate(order):
            noisy[i] = values[order[(k + 1) % len(order)]]
    changed = [i for i in chosen if noisy[i] != values[i]]  # equal values would be no noise
    return noisy, changed


def banking77(source: Path, n: int | None, rate: float, seed: int, intents: int | None = None,
              test: int = 0, short_prompt: bool = False,
              balanced: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """(noisy records, clean records, changed ids, test records) from banking77's splits.
    `balanced`: n // intents rows of each intent (banking77's train split is not: its intents
    have 35 to 187 rows, so a plain sample of a few intents can give one 7 rows and another 48)."""
    with open(source / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    categories = json.loads((source / "banking77" / "categories.json").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    prompt = BANKING77_PROMPT
    if intents:
        categories = sorted(random.Random(f"intents-{seed}").sample(categories, intents))
        rows = [r for r in rows if r["category"] in categories]
        if not short_prompt:
            prompt = BANKING77_CHOICES_PROMPT.replace("{intents}", ", ".join(categories))
    if balanced and intents and n:
        by_intent = {c: [i for i, r in enumerate(rows) if r["category"] == c] for c in categories}
        picked = [i for c in categories for i in rng.sample(by_intent[c], min(n // intents, len(by_intent[c])))]
        rng.shuffle(picked)
    else:
        picked = pick_rows(len(rows), n, rng)
    clean = [{"id": f"banking77-{i}", "prompt": prompt.format(text=rows[i]["text"]),
              "response": rows[i]["category"]} for i in picked]
    labels, changed = swap_labels([r["response"] for r in clean], categories, rate, rng)
    noisy = [{**r, "response": label} for r, label in zip(clean, labels, strict=True)]
    held_out: list[dict[str, Any]] = []
    if test:
        with open(source / "banking77" / "test.csv", encoding="utf-8", newline="") as f:
            test_rows = [r for r in csv.DictReader(f) if r["category"] in categories]
        held_out = [{"id": f"banking77-test-{i}", "prompt": prompt.format(text=test_rows[i]["text"]),
                     "response": test_rows[i]["category"]}
                    for i in pick_rows(len(test_rows), test, random.Random(f"test-{seed}"))]
    return noisy, clean, [clean[i]["id"] for i in changed], held_out


def gsm8k(source: Path, n: int | None, rate: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(noisy records, clean records, changed ids) from GSM8K's train split."""
    with open(source / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rng = random.Random(seed)
    picked = pick_rows(len(rows), n, rng)
    clean = [{"id": f"gsm8k-{i}", "question": rows[i]["question"], "answer": rows[i]["answer"]}
             for i in picked]
    answers, changed = swap_between_rows([r["answer"] for r in clean], rate, rng)
    noisy = [{**r, "answer": a} for r, a in zip(clean, answers, strict=True)]
    return noisy, clean, [clean[i]["id"] for i in changed]


def near_miss(solution: str, rng: random.Random) -> str:
    """The solution with its final number ('#### N') replaced by a nearby wrong one, also in
    the step before it, so the wrong result reads as the solution's own."""
    body, sep, final = solution.rpartition("####")
    wanted = final.strip().replace(",", "")
    if not sep or not re.fullmatch(r"-?\d+", wanted):
        return solution
    value = int(wanted)
    wrong = value + rng.choice([-10, -2, -1, 1, 2, 10, value or 1])  # value: doubled
    lines = body.rstrip("\n").split("\n")
    pattern = re.compile(rf"(?<![\d.]){re.escape(final.strip())}(?![\d])")
    lines[-1] = pattern.sub(str(wrong), lines[-1])
    return "\n".join(lines) + f"\n#### {wrong}"


def gsm8k_near(source: Path, n: int | None, rate: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(noisy records, clean records, changed ids): GSM8K rows with near-miss final answers."""
    _, clean, _ = gsm8k(source, n, 0.0, seed)
    rng = random.Random(f"near-{seed}")
    chosen = pick_changed(len(clean), rate, rng)
    noisy = [dict(r) for r in clean]
    for i in chosen:
        noisy[i]["answer"] = near_miss(clean[i]["answer"], rng)
    changed = [clean[i]["id"] for i in chosen if noisy[i]["answer"] != clean[i]["answer"]]
    return noisy, clean, changed


def banking77_all_intents(source: Path, n: int | None, rate: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """banking77 over all 77 intents, without a test file: (noisy, clean, changed ids)."""
    noisy, clean, changed, _ = banking77(source, n, rate, seed)
    return noisy, clean, changed


MAKERS = {"banking77": banking77_all_intents, "gsm8k": gsm8k, "gsm8k-near": gsm8k_near}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def make_noisy(name: str, out_dir: Path, *, rate: float = 0.2, seed: int = 0, n: int | None = None,
               source: Path = SHARED_DATA, intents: int | None = None, test: int = 0,
               short_prompt: bool = False, balanced: bool = False) -> dict[str, Path]:
    """Write the noisy file, the changed ids and the clean copy (and, for banking77 with
    `test`, a held-out test file); returns their paths."""
    if name == "banking77":
        noisy, clean, changed, held_out = banking77(source, n, rate, seed, intents, test, short_prompt, balanced)
    else:
        if intents or test or short_prompt or balanced:
            raise ValueError("--intents, --test, --short-prompt and --balanced are for banking77")
        noisy, clean, changed = MAKERS[name](source, n, rate, seed)
        held_out = []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"noisy": out_dir / f"{name}_noisy.jsonl",
             "changed": out_dir / f"{name}_noisy.changed.json",
             "clean": out_dir / f"{name}_noisy.clean.jsonl"}
    write_jsonl(paths["noisy"], noisy)
    write_jsonl(paths["clean"], clean)
    paths["changed"].write_text(json.dumps(changed, indent=0) + "\n", encoding="utf-8")
    if held_out:
        paths["test"] = out_dir / f"{name}_test.jsonl"
        write_jsonl(paths["test"], held_out)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(MAKERS))
    p.add_argument("--rate", type=float, default=0.2, help="share of rows whose target is changed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=None, help="rows to sample (default: all)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--source", type=Path, default=SHARED_DATA, help="the shared data folder")
    p.add_argument("--intents", type=int, default=None, help="banking77: use only this many intents, listed in the prompt")
    p.add_argument("--test", type=int, default=0, help="banking77: also write this many held-out test rows")
    p.add_argument("--short-prompt", action="store_true",
                   help="banking77 with --intents: do not list the intents in the prompt (half the tokens)")
    p.add_argument("--balanced", action="store_true",
                   help="banking77 with --intents and --n: n // intents rows of each intent")
    args = p.parse_args(argv)
    folder = args.dataset.split("-")[0]  # gsm8k-near reads gsm8k
    if not (args.source / folder).is_dir():
        print(f"noise.py: no {folder} data under {args.source}", file=sys.stderr)
        return 1
    paths = make_noisy(args.dataset, args.out, rate=args.rate, seed=args.seed, n=args.n, source=args.source,
                       intents=args.intents, test=args.test, short_prompt=args.short_prompt,
                       balanced=args.balanced)
    changed = json.loads(paths["changed"].read_text(encoding="utf-8"))
    print(f"wrote {paths['noisy']} ({len(changed)} of the rows changed), {paths['changed']}, {paths['clean']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
