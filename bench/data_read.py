"""Reading speed and peak memory of clearft.data as files grow (10,000 and 1,000,000 rows).

    python bench/data_read.py                       # 10k and 1M rows, jsonl/csv/parquet
    python bench/data_read.py --sizes 10000 --types jsonl

Generates prompt/response files in a temporary folder (with clearft's own writer), then reads
each one in a fresh child process, so one run's memory cannot pollute another's, and reports:
rows/s, the child's peak RSS (resource.getrusage) and the growth of that peak over the child's
peak before reading (imports included). Two ways of reading:

* ``reader``: the file-type layer alone (records as dicts; what streaming costs);
* ``dataset``: ``open_dataset(...)`` iterated into Examples: format parsing, ids, the
  duplicate-id check (which keeps one small hash per row, the one thing that grows).

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
WORDS = ("card", "transfer", "account", "payment", "refund", "limit", "exchange", "top-up",
         "pending", "declined", "fee", "cash", "balance", "statement", "pin")


def synthetic_records(n: int) -> Iterator[dict[str, Any]]:
    """Banking-style rows of realistic size (about 150 bytes of text each), deterministic."""
    for i in range(n):
        words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8))
        yield {"id": f"row-{i}",
               "prompt": f"Classify the intent of this banking customer query. Query: my {words} #{i}?\nIntent:",
               "response": WORDS[i % len(WORDS)]}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(path: Path, file_type: str, mode: str) -> None:
    """Runs in its own process: read everything, print one JSON line of measurements."""
    # Imports are a fixed cost, not growth: numpy (the id index, past 65,536 rows) and pyarrow.
    import numpy  # noqa: F401

    from clearft.data import open_dataset
    from clearft.data.readers import read_items

    if file_type == "parquet":
        import pyarrow.parquet  # noqa: F401
    before = peak_rss_mib()
    start = time.perf_counter()
    rows = 0
    if mode == "reader":
        for _ in read_items(path, file_type):
            rows += 1
    else:
        for _ in open_dataset(path, file_type=file_type):
            rows += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_rss_mib(),
                      "before_mib": before}))


def measure(path: Path, file_type: str, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), file_type, mode],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate(path: Path, n: int) -> None:
    """In its own process too: a forked child starts with its parent's peak RSS, so the
    parent must stay small (no pyarrow, no clearft imports) for the children's peaks to count."""
    subprocess.run([sys.executable, __file__, "--generate", str(path), str(n)], check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--types", nargs="+", default=list(SUFFIX), choices=list(SUFFIX))
    p.add_argument("--modes", nargs="+", default=["reader", "dataset"], choices=["reader", "dataset"])
    p.add_argument("--child", nargs=3, metavar=("PATH", "TYPE", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--generate", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), args.child[1], args.child[2])
        return 0
    if args.generate:
        from clearft.data import write_records

        write_records(args.generate[0], synthetic_records(int(args.generate[1])))
        return 0

    print("| file type | rows | file MiB | read by | rows/s | peak RSS MiB | RSS growth MiB |")
    print("|---|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="clearft-bench-") as tmp:
        for n in args.sizes:
            for file_type in args.types:
                path = Path(tmp) / f"data_{n}{SUFFIX[file_type]}"
                generate(path, n)
                size = path.stat().st_size / 2**20
                for mode in args.modes:
                    m = measure(path, file_type, mode)
                    assert m["rows"] == n, m
                    print(f"| {file_type} | {n:,} | {size:.1f} | {mode} | {n / m['seconds']:,.0f} | "
                          f"{m['peak_mib']:.0f} | {m['peak_mib'] - m['before_mib']:.0f} |", flush=True)
                path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
