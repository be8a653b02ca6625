"""The evidence judge's label models side by side on the same rows (issue 13): Auto-Correct's
own code path (`correct_file`, every row considered, no candidate model) with each label model
at its default gate and eta, then changed / restored / broken and noise before and after.
Beside each, the rule's frontier over every cut (the most noisy rows restored at precision
>= 0.95; the cut is chosen with the clean labels, so it says what the ranking allows, not what
a run gets). The clean labels are read only to measure.

    python bench/label_views.py --datasets fpb30,banking77-20,fpb50 --label-models logreg,ensemble \
        --work runs/label_views

"ensemble" is shown with the form it took on the data (ensemble-frozen or ensemble-fine-tuned,
correction/config.resolve_label_model). The fine-tuned encoder's folds are cached beside each
output (OUT.label-model/, keyed by a fingerprint of rows, labels and settings): copying
bench/label_finetuned_encoder.py's WORK/<dataset>/encoder_folds/*.npy there reuses them.

The main job's data (no clean file: its noise list) is `--datasets main`. `--fpb-rows N` takes
the first N rows of an FPB file (the rows-a-class question: where the fine-tuned form starts to
win); "ensemble-fine-tuned" in --label-models is `ensemble` forced into its fine-tuned form at
any size, "ensemble-frozen" the same for the frozen one.

    python bench/label_views.py --datasets fpb30 --fpb-rows 300 --label-models ensemble-frozen,ensemble-fine-tuned \
        --work runs/label_views_300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.correction import CorrectConfig  # noqa: E402
from clearft.correction import config as correction_config  # noqa: E402
from clearft.correction.correct import correct_file  # noqa: E402
from clearft.data import open_dataset  # noqa: E402
from correct import measure, noisy_and_clean  # noqa: E402  (bench/correct.py)

ROOT = Path(__file__).resolve().parents[1]
TARGET_PRECISION = 0.95
FLOOR = correction_config.FINE_TUNE_ROWS_PER_CLASS


def main_job_rows() -> tuple[Path, list[str]]:
    """The bundled main-job slice and its clean targets (the clean file the run never sees)."""
    data = ROOT / "examples" / "data"
    clean = {ex.id: ex.response for ex in open_dataset(str(data / "banking77_noisy.clean.jsonl"))}
    noisy = data / "banking77_noisy.jsonl"
    return noisy, [clean[ex.id] for ex in open_dataset(str(noisy))]


def frontier(output: Path, noisy: Path, clean: list[str]) -> dict[str, Any]:
    """Sort the rows the judge would change (any confidence) by its confidence: the most restored
    at precision >= 0.95 over every cut."""
    given = [ex.response.strip() for ex in open_dataset(str(noisy))]
    n_noisy = sum(g != c.strip() for g, c in zip(given, clean, strict=True))
    proposals = []
    for i, ex in enumerate(open_dataset(str(output))):
        audit = ex.record.get("clearft_correction") or {}
        audit = json.loads(audit) if isinstance(audit, str) else audit
        label = audit.get("candidate")
        if label and str(label).strip() != given[i]:
            proposals.append((float(audit.get("confidence") or 0.0), i, str(label).strip()))
    proposals.sort(reverse=True)
    restored = best = 0
    at = None
    for n, (conf, i, label) in enumerate(proposals, 1):
        restored += label == clean[i].strip()
        if restored / n >= TARGET_PRECISION and restored > best:
            best, at = restored, {"changed": n, "restored": restored, "cut": round(conf, 3)}
    return {"best_share_at_095": round(best / n_noisy, 3) if n_noisy else None, "at": at}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="fpb30,banking77-20,fpb50")
    p.add_argument("--label-models", default="logreg,ensemble")
    p.add_argument("--banking-rows", type=int, default=3000)
    p.add_argument("--fpb-rows", type=int, default=None, help="the first N rows of an FPB file (default: all)")
    p.add_argument("--work", default="runs/label_views")
    args = p.parse_args()
    table = []
    for name in args.datasets.split(","):
        work = Path(args.work) / name
        work.mkdir(parents=True, exist_ok=True)
        rows = args.banking_rows if name.startswith("banking") else args.fpb_rows
        noisy, clean = main_job_rows() if name == "main" else noisy_and_clean(name, rows, work)
        for model in args.label_models.split(","):
            # "ensemble-fine-tuned": `ensemble` with no rows-a-class floor for its fine-tuned form
            correction_config.FINE_TUNE_ROWS_PER_CLASS = 0 if model == "ensemble-fine-tuned" else FLOOR
            config = CorrectConfig(judge="evidence", label_model="ensemble" if model == "ensemble-fine-tuned" else model)
            out = work / f"corrected_{model}{noisy.suffix}"
            started = time.monotonic()
            summary = correct_file(noisy, out, None, config, all_rows=True,  # type: ignore[arg-type]
                                   uncorrected=work / f"uncorrected_{model}{noisy.suffix}")
            classifier = summary.settings["classifier"]
            resolved = classifier.get("label_model", model)  # "ensemble" -> its form
            if classifier.get("calibration") == "temperature":  # --calibration auto, where identified
                resolved += ", calibrated"
            row = {"dataset": name, "label_model": model if resolved == model else f"{model} -> {resolved}",
                   "gate": summary.settings["evidence_gate"], "eta": summary.settings["evidence_eta"],
                   **measure(out, noisy, clean),
                   "frontier": frontier(out, noisy, clean), "reasons": summary.reasons,
                   "seconds": round(time.monotonic() - started, 1)}
            print(json.dumps(row), flush=True)
            table.append(row)
    (Path(args.work) / "result.json").write_text(json.dumps(table, indent=1))
    print("\n| data | label model (gate, eta) | changed / restored / broken | precision | noisy rows restored | noise before -> after | best at >= 0.95 over every cut | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        f = r["frontier"]
        best = f"{f['best_share_at_095']:.1%} ({f['at']['changed']}/{f['at']['restored']}, cut {f['at']['cut']})" if f["at"] else "-"
        print(f"| {r['dataset']} ({r['rows']} rows, {r['noisy']} noisy) | {r['label_model']} ({r['gate']}, {r['eta']}) | "
              f"{r['changed']} / {r['restored']} / {r['broken']} | {r['precision']} | {r['share_restored']:.1%} | "
              f"{r['noise_before']:.1%} -> {r['noise_after']:.1%} | {best} | {r['seconds']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
