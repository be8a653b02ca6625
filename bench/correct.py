"""Auto-Correct measured against the clean targets (issue 13): rows changed, restored to the
clean target, clean rows broken, noise before and after, for the evidence judge (the default
for label targets) and the paper's base-model LLM judge on the same rows.

The curation run sees only the noisy file (written to WORK); the clean targets are read here
only to measure. With no candidate model, every row is a candidate for correction (`--all`)
and the evidence judge uses the embedding classifier alone; the LLM judge is given the
classifier's top label as its candidate (so both judge the same proposals) on a seeded sample
of --llm-rows rows among those whose proposal differs from the target.

    python bench/correct.py --dataset fpb30 --llm-rows 60 --work runs/correct_fpb30

With --input, the run reads that file instead: the same rows in the same order, e.g. the
noisy file scored by `clearft score --cross-fit 2`, whose fold models' label probabilities
are then a second view of the evidence judge:

    clearft score runs/cf/noisy.csv -o runs/cf/scored.jsonl --cross-fit 2
    python bench/correct.py --dataset fpb30 --input runs/cf/scored.jsonl --work runs/correct_fpb30_cf
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.correction import CorrectConfig, correct_file  # noqa: E402
from clearft.data import open_dataset, write_records  # noqa: E402
from clearft.errors import ClearftError  # noqa: E402
from detect import DATA  # noqa: E402  (bench/detect.py)


def noisy_and_clean(name: str, rows: int | None, work: Path) -> tuple[Path, list[str]]:
    """(the noisy file a run sees, the clean target of each of its rows, in order)."""
    import csv

    work.mkdir(parents=True, exist_ok=True)
    if name[:3] in ("fpb", "arc"):
        task, noise = name[:3], name[3:]
        src = DATA / "robustft" / task / "noisy" / f"noisy{noise}.csv"
        with (DATA / "robustft" / task / "labeled.csv").open(newline="", encoding="utf-8") as f:
            clean = [r["answer"] for r in csv.DictReader(f)]
        with src.open(newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
        n = rows or len(records)
        out = work / "noisy.csv"
        with out.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(records[0]))
            w.writeheader()
            w.writerows(records[:n])
        return out, clean[:n]
    import noise as noise_mod  # bench/noise.py

    kind = {"banking77-20": "banking77", "gsm8k-20": "gsm8k", "gsm8k-near-20": "gsm8k-near"}[name]
    noisy, clean_rows, _ = noise_mod.MAKERS[kind](DATA, rows, 0.2, 0)
    key = "response" if kind == "banking77" else "answer"
    out = work / "noisy.jsonl"
    write_records(str(out), noisy)
    return out, [r[key] for r in clean_rows]


def final_number(text: str) -> str:
    """Free-text targets (GSM8K solutions) are right or wrong by their final answer."""
    from clearft.evaluation.metrics import extract_number

    return extract_number(text) or text.strip()


def measure(output: Path, noisy: Path, clean: list[str], norm: Callable[[str], str] = str.strip) -> dict[str, float | int]:
    before = [ex.response for ex in open_dataset(str(noisy))]
    after = [ex.response for ex in open_dataset(str(output))]
    assert len(after) == len(before), "every row is kept with --all"
    changed = [i for i in range(len(before)) if norm(after[i]) != norm(before[i])]
    restored = sum(norm(after[i]) == norm(clean[i]) for i in changed)
    broken = sum(norm(before[i]) == norm(clean[i]) for i in changed)
    noisy_rows = sum(norm(b) != norm(c) for b, c in zip(before, clean, strict=True))
    noisy_after = sum(norm(a) != norm(c) for a, c in zip(after, clean, strict=True))
    return {"rows": len(before), "noisy": noisy_rows, "changed": len(changed), "restored": restored,
            "broken": broken, "precision": round(restored / len(changed), 3) if changed else float("nan"),
            "share_restored": round(restored / noisy_rows, 3) if noisy_rows else float("nan"),
            "noise_before": round(noisy_rows / len(before), 3), "noise_after": round(noisy_after / len(before), 3)}


def llm_rows(evidence_out: Path, noisy: Path, limit: int, seed: int, work: Path) -> Path:
    """A seeded sample of `limit` rows among those whose classifier proposal differs from the
    target (the only rows where either judge can change anything), with that proposal as the
    LLM judge's candidate; their positions are written to WORK/llm_rows.idx.json."""
    import random

    recs = [dict(ex.record) for ex in open_dataset(str(evidence_out))]
    noisy_recs = [dict(ex.record) for ex in open_dataset(str(noisy))]
    given = [ex.response for ex in open_dataset(str(noisy))]
    proposals: dict[int, str] = {}
    for i, r in enumerate(recs):
        corr = r.get("clearft_correction") or {}
        corr = json.loads(corr) if isinstance(corr, str) else corr
        cand = corr.get("candidate")
        if cand and cand.strip() != str(given[i]).strip():
            proposals[i] = cand
    picked = sorted(random.Random(f"clearft-llm-rows-{seed}").sample(sorted(proposals), min(limit, len(proposals))))
    cands = [{**noisy_recs[i], "clearft_candidate": proposals[i], "clearft_candidate_error": None} for i in picked]
    out = work / ("llm_rows" + noisy.suffix)
    write_records(str(out), cands)
    (work / "llm_rows.idx.json").write_text(json.dumps(picked))
    return out


def free_text(noisy: Path, clean: list[str], eta: float, work: Path) -> dict[str, dict]:
    """Free-text targets: candidates from the base model (no fine-tuned model here; the paper's
    candidates come from the fine-tuned one), then the estimator judge (the default there) and
    the paper's llm judge on the same rows and candidates. Right = the clean final answer."""
    from clearft.backends.cache import open_backend
    from clearft.correction import write_candidates

    backend = open_backend("llamacpp", cache=str(work / "calls.sqlite"))
    results: dict[str, dict] = {}
    try:
        cands = work / ("candidates" + noisy.suffix)
        started = time.monotonic()
        if not cands.exists():
            write_candidates(noisy, cands, backend, CorrectConfig())
        texts = [str(ex.record.get("clearft_candidate") or "") for ex in open_dataset(str(cands))]
        given = [ex.response for ex in open_dataset(str(noisy))]
        right = [final_number(t) == final_number(c) for t, c in zip(texts, clean, strict=True)]
        results["candidates"] = {"model": "base (embedded SmolLM2-135M-Instruct)",
                                 "right_on_noisy_rows": sum(r for r, g, c in zip(right, given, clean, strict=True)
                                                            if final_number(g) != final_number(c)),
                                 "right_on_clean_rows": sum(r for r, g, c in zip(right, given, clean, strict=True)
                                                            if final_number(g) == final_number(c)),
                                 "seconds": round(time.monotonic() - started, 1)}
        for judge in ("estimator", "llm"):
            started = time.monotonic()
            out = work / (judge + noisy.suffix)
            summary = correct_file(cands, out, backend, CorrectConfig(eta=eta, judge=judge), all_rows=True)
            results[judge] = {**measure(out, noisy, clean, final_number), "reasons": summary.reasons,
                              "seconds": round(time.monotonic() - started, 1)}
            print(json.dumps({judge: results[judge]}), flush=True)
    finally:
        backend.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="fpb30")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--eta", type=float, default=0.8)
    p.add_argument("--calibration", choices=["none", "noise-matrix"], default="none")
    p.add_argument("--llm-rows", type=int, default=0,
                   help="rows the LLM judge sees, a seeded sample of those the classifier would change (0: skip it)")
    p.add_argument("--llm-seed", type=int, default=0)
    p.add_argument("--input", default=None,
                   help="read these rows instead of the noisy file (the same rows in the same order, "
                        "e.g. scored with --cross-fit)")
    p.add_argument("--free-text", action="store_true",
                   help="where the evidence judge refuses (free text): base-model candidates, then the "
                        "estimator and llm judges on them")
    p.add_argument("--work", default="/tmp/clearft-bench-correct")
    args = p.parse_args()
    work = Path(args.work)
    noisy, clean = noisy_and_clean(args.dataset, args.rows, work)
    if args.input:
        noisy = Path(args.input)
        assert len(list(open_dataset(str(noisy)))) == len(clean), "--input must hold the dataset's rows"
    results: dict[str, dict] = {}
    started = time.monotonic()
    out = work / ("evidence" + noisy.suffix)
    try:
        summary = correct_file(noisy, out, None, CorrectConfig(eta=args.eta, judge="evidence", calibration=args.calibration), all_rows=True)
    except ClearftError as e:  # not label targets (ARC's letters, GSM8K's solutions): it refuses
        results["evidence"] = {"refused": str(e)}
        if args.free_text:
            results.update(free_text(noisy, clean, args.eta, work))
        print(json.dumps({"dataset": args.dataset, **results}, indent=1))
        (work / "result.json").write_text(json.dumps({"dataset": args.dataset, "eta": args.eta, **results}, indent=1))
        return 0
    results["evidence"] = {**measure(out, noisy, clean), "seconds": round(time.monotonic() - started, 1),
                           "classifier": summary.settings["classifier"]}
    if args.llm_rows:
        from clearft.backends.cache import open_backend

        sub = llm_rows(out, noisy, args.llm_rows, args.llm_seed, work)
        idx = json.loads((work / "llm_rows.idx.json").read_text())
        sub_clean = [clean[i] for i in idx]
        judge = open_backend("llamacpp", cache=str(work / "calls.sqlite"))
        started = time.monotonic()
        llm_out = work / ("llm" + noisy.suffix)
        llm_summary = correct_file(sub, llm_out, judge, CorrectConfig(eta=args.eta, judge="llm"), all_rows=True)
        judge.close()
        results["llm_same_rows"] = {**measure(llm_out, sub, sub_clean), "reasons": llm_summary.reasons,
                                    "seconds": round(time.monotonic() - started, 1)}
        # The evidence judge on exactly those rows, for the side-by-side.
        ev_recs = [ex.response for ex in open_dataset(str(out))]
        sub_ev = work / ("evidence_same_rows" + noisy.suffix)
        ds = open_dataset(str(sub))
        write_records(str(sub_ev), [ds.with_response(ex, ev_recs[i]) for ex, i in zip(ds, idx, strict=True)])
        results["evidence_same_rows"] = measure(sub_ev, sub, sub_clean)
    print(json.dumps({"dataset": args.dataset, "eta": args.eta, **results}, indent=1))
    (work / "result.json").write_text(json.dumps({"dataset": args.dataset, "eta": args.eta, **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
