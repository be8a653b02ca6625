"""After the README's main job: how well did the run find the rows the noise script changed?

Reads RUN_DIR/scored.* and RUN_DIR/dropped.* and the list of changed ids (which the run never
saw) and prints AUROC of the confidence and precision/recall of what the filter dropped; with
the clean copy of the data (also never seen by the run), how many targets Auto-Correct
replaced in RUN_DIR/corrected.*, how many of those restored the clean target and how many broke
a clean one.
Usage: python bench/demo_check.py RUN_DIR CHANGED_IDS.json [CLEAN.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from clearft.data import open_dataset
from detect import auroc  # bench/detect.py: the one AUROC of the benchmarks


def first(run: Path, stem: str) -> Path:
    found = sorted(run.glob(f"{stem}.*"))
    found = [p for p in found if p.suffix in {".jsonl", ".json", ".csv", ".parquet"}]
    if not found:
        raise SystemExit(f"{run} has no {stem}.* file (did the run finish?)")
    return found[0]


def main(argv: list[str]) -> int:
    run, changed_path = Path(argv[0]), Path(argv[1])
    changed = set(json.loads(changed_path.read_text()))
    scored = [(ex.id, ex.record.get("confidence")) for ex in open_dataset(first(run, "scored"))]
    rows = [(s, i in changed) for i, s in scored if s is not None]
    dropped = {ex.id for ex in open_dataset(first(run, "dropped"))}
    hit = len(dropped & changed)
    print(f"rows scored: {len(scored)}; noisy rows (changed by the noise script): {len(changed)}")
    print(f"AUROC of confidence for finding them: {auroc([float(s) for s, _ in rows], [b for _, b in rows]):.3f}")
    print(f"filter dropped {len(dropped)}: precision {hit / max(len(dropped), 1):.2f}, "
          f"recall {hit / max(len(changed), 1):.2f}")
    if len(argv) > 2:
        clean = {ex.id: ex.response for ex in open_dataset(Path(argv[2]))}
        original = "clearft_original_response"  # correction.correct.ORIGINAL_COL
        replaced = [(ex.id, ex.response, ex.record[original]) for ex in open_dataset(first(run, "corrected"))
                    if ex.record.get(original)]
        restored = sum(new == clean[i] for i, new, _ in replaced)
        broken = sum(old == clean[i] for i, _, old in replaced)
        print(f"Auto-Correct replaced {len(replaced)} targets: {restored} restored the clean one "
              f"(precision {restored / max(len(replaced), 1):.2f}; {restored} of the {len(changed)} noisy rows), "
              f"{broken} broke a clean one")
    summary = run / "summary.json"
    if summary.is_file():
        accuracy = json.loads(summary.read_text()).get("accuracy", {})
        names = {"untuned": "untuned", "full": "fine-tuned on the noisy rows", "filtered": "filtered",
                 "corrected": "curated (filtered + Auto-Correct)"}
        order = [*names, *sorted(set(accuracy) - set(names))]  # corrected_2, ... after the first round
        steps = [f"{names.get(label, label)} {accuracy[label]['accuracy']:.3f}" for label in order
                 if accuracy.get(label, {}).get("accuracy") is not None]
        n = {acc.get("n") for acc in accuracy.values()}
        if steps:
            print(f"test accuracy (n={', '.join(map(str, sorted(x for x in n if x)))}): " + " -> ".join(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
