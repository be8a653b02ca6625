"""How fast a report builds and opens as the data grows (the issue asks: fast with 100,000 rows).

Synthetic scored rows with full BSDetector evidence (3 sampled answers, 2 reflections each)
so the sizes are the worst case of a real `clearft score` output. For each size: Python time
to load + build + write the HTML, the file size, and in headless Chromium the time from
navigation start to the first drawn page, one sort (by confidence, descending) and one
row expansion, plus how many table rows are in the DOM (it must stay at the page size).

    python bench/report_speed.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.support.ui import WebDriverWait

from clearft.report import build_report
from clearft.report.browser import headless_chromium


def scored_row(i: int, n: int) -> dict[str, object]:
    conf = ((i * 7919) % n) / n
    return {
        "prompt": f"Please justify the sentiment of the following sentence: row {i} reports that "
                  "operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period.",
        "response": "C", "id": f"row-{i:06d}", "confidence": conf, "consistency": conf,
        "self_reflection": 0.5, "clearft_method": "bsdetector", "clearft_error": None,
        "clearft_evidence": {
            "samples": [{"text": f"explanation: profit rose, so positive. answer: C ({k})",
                         "answer": "C", "similarity": 0.8, "exact_match": True} for k in range(3)],
            "reflections": [{"round": r, "verdict": "A", "probs": {"A": 0.6, "B": 0.3, "C": 0.1},
                             "explanation": "", "raw": "A"} for r in (1, 2)],
            "unknown": 0,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| rows | build (load+payload+HTML) | HTML size | open to first page | sort 1 column | expand 1 row | table rows in DOM |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, headless_chromium(1300, 900) as driver:
        for n in sizes:
            src = Path(tmp) / f"scored_{n}.jsonl"
            src.write_text("".join(json.dumps(scored_row(i, n)) + "\n" for i in range(n)), encoding="utf-8")
            t0 = time.perf_counter()
            result = build_report([src], Path(tmp) / f"report_{n}.html")
            build_s = time.perf_counter() - t0
            driver.get(result.path.as_uri())
            WebDriverWait(driver, 300).until(
                lambda d: d.execute_script("return document.body && document.body.getAttribute('data-ready-ms')"))
            ready_ms = int(driver.execute_script("return document.body.getAttribute('data-ready-ms')"))
            sort_ms = driver.execute_script(
                "var t = performance.now();"
                "document.querySelector('#rows-head th[data-key=\"confidence\"] button').click();"
                "return performance.now() - t;")
            expand_ms = driver.execute_script(
                "var t = performance.now(); document.querySelector('#rows tr.row').click();"
                "return performance.now() - t;")
            dom_rows = driver.execute_script("return document.querySelectorAll('#rows tr.row').length")
            print(f"| {n:,} | {build_s:.2f} s | {result.bytes_written / 1e6:.1f} MB | {ready_ms / 1000:.2f} s "
                  f"| {sort_ms:.0f} ms | {expand_ms:.0f} ms | {dom_rows} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
