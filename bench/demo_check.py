"""After the README's main job: how well did the run find the rows the noise script changed?

Reads RUN_DIR/scored.* and RUN_DIR/dropped.* and the list of changed ids (which the run never
saw) and prints AUROC of the confidence and precision/recall of what the filter dropped.
Usage: python bench/demo_check.py RUN_DIR CHANGED_IDS.json
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
    summary = run / "summary.json"
    if summary.is_file():
        for label, acc in json.loads(summary.read_text()).get("accuracy", {}).items():
            print(f"test accuracy, {label}: {acc.get('accuracy')} (n={acc.get('n')})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
