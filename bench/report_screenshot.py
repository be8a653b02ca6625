"""Screenshot of a `clearft report` on the real FPB data, for the README (docs/report-fpb.png).

Scores RobustFT FPB at 30% noise with a cheap real method (embedding-classifier: out-of-fold
probability of the given label from sentence embeddings; no LLM calls) unless scored files
are given, writes the report, opens it in headless Chromium, expands the lowest-confidence
row and saves a PNG. Also prints how well the scores find the noisy rows (labeled.csv is
read only for that number, never by the report).

    python bench/report_screenshot.py --out docs/report-fpb.png
    python bench/report_screenshot.py --scored run/scored.jsonl other.jsonl --out docs/report-fpb.png
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from selenium.webdriver.support.ui import WebDriverWait

from clearft.report import build_report
from clearft.report.browser import headless_chromium
from detect import auroc  # bench/detect.py: the one AUROC of the benchmarks

ROOT = Path(__file__).resolve().parent.parent
FPB = ROOT.parent / "shared" / "data" / "robustft" / "fpb"


def score_fpb(out: Path) -> Path:
    from clearft.cli.main import main

    if not out.is_file():
        rc = main(["score", str(FPB / "noisy" / "noisy30.csv"), "-o", str(out),
                   "--method", "embedding-classifier", "--no-progress"])
        if rc != 0:
            sys.exit(rc)
    return out


def noise_auroc(scored: Path) -> float | None:
    """Rows are in labeled.csv's order; a row is noisy where the answers differ."""
    if scored.suffix != ".jsonl":
        return None
    with (FPB / "labeled.csv").open(encoding="utf-8", newline="") as f:
        clean = [r["answer"] for r in csv.DictReader(f)]
    rows = [json.loads(x) for x in scored.read_text(encoding="utf-8").splitlines() if x.strip()]
    if len(rows) != len(clean):
        return None
    pairs = [(r["confidence"], r["answer"] != c) for r, c in zip(rows, clean, strict=True) if r["confidence"] is not None]
    return auroc([p[0] for p in pairs], [p[1] for p in pairs])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scored", nargs="*", default=None, help="scored file(s) or a run directory")
    ap.add_argument("--work", default="/tmp/clearft-report-fpb", help="folder for the scored file and HTML")
    ap.add_argument("--out", default=str(ROOT / "docs" / "report-fpb.png"))
    ap.add_argument("--threshold", type=float, default=None,
                    help="threshold to draw (default: the filter's, else the median)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1500)
    args = ap.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    inputs = [Path(p) for p in args.scored] if args.scored else [score_fpb(work / "fpb30.scored.jsonl")]
    t0 = time.perf_counter()
    result = build_report(inputs, work / "report.html", threshold=args.threshold, page_size=25,
                          title="clearft report: RobustFT FPB, 30% label noise")
    if result.payload["threshold"] is None and result.payload["chart"]["median"] is not None:
        # The paper's default cut is the median (drop half); draw that when nothing chose one.
        result = build_report(inputs, work / "report.html", threshold=result.payload["chart"]["median"],
                              page_size=25, title="clearft report: RobustFT FPB, 30% label noise")
    build_s = time.perf_counter() - t0
    with headless_chromium(args.width, args.height) as driver:
        driver.get(result.path.resolve().as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.body && document.body.getAttribute('data-ready')"))
        driver.find_element("css selector", "#rows tr.row").click()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(args.out)
    score = noise_auroc(inputs[0]) if inputs[0].is_file() else None
    print("| input | rows | method(s) | report build | HTML size | AUROC vs clean labels |")
    print("|---|---|---|---|---|---|")
    auroc_text = f"{score:.3f}" if score is not None else "n/a"
    print(f"| {', '.join(str(p) for p in inputs)} | {result.payload['counts']['rows']} | "
          f"{', '.join(result.payload['methods'])} | {build_s:.2f} s | "
          f"{result.bytes_written / 1e6:.2f} MB | {auroc_text} |")
    print(f"wrote {args.out} and {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
