"""Load: does scoring keep memory flat as a dataset grows, and does the call cache stay
usable when it is large? (issue 7)

    python bench/load.py [--rows 10000,50000,100000] [--cache-sizes 1000,100000]

1. Peak RSS of `score_file` over N generated rows with the fake backend (self-reflection,
   one request a row, so the run measures clearft, not a model), each N in a child process
   of its own so that peaks do not carry over; beside it, the peak of a child that only
   imports clearft and reads the same file (the floor).
2. The call cache: time to look up the same 1,000 cached requests when the SQLite file
   holds 1k entries and when it holds 100k; reported as a ratio (within one run, so the
   machine's load cancels out).

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_rows(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"row{i}", "prompt": f"Question {i}: is {i} a prime number? "
                                "Think it through and answer with yes or no.",
                                "response": "yes" if i % 3 else "no"}) + "\n")


class Forgetful(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:
        pass


def child_score(data: Path, out: Path, only_read: bool) -> dict[str, Any]:
    from clearft.backends.fake import FakeBackend
    from clearft.data import open_dataset
    from clearft.scoring import make_config, score_file

    started = time.perf_counter()
    if only_read:
        n = open_dataset(data).validate()
        return {"rows": n, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}
    backend = FakeBackend(responder=lambda req, i: "explanation: fine. answer: A", logprobs=False)
    backend.calls = Forgetful()  # the test double's call history would grow; clearft's must not
    config = make_config("base", method="bsdetector", batch_size=64)
    summary = score_file(data, out, backend, config, progress=False)
    return {"rows": summary.rows, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def child_cache(sizes: list[int], lookups: int) -> dict[str, Any]:
    from clearft.backends.base import GenerateRequest
    from clearft.backends.cache import CachedBackend, call_key
    from clearft.backends.fake import FakeBackend

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedBackend(FakeBackend(), Path(tmp) / "calls.sqlite")
        requests = [GenerateRequest([{"role": "user", "content": f"prompt {i}"}], max_tokens=8, seed=i)
                    for i in range(lookups)]
        cached.generate(requests)  # the entries every lookup will hit
        filled = lookups
        for size in sorted(sizes):
            # Grow the file with other entries, in big transactions (like a long run would).
            while filled < size:
                batch = min(10_000, size - filled)
                cached._put_many([(call_key("fake", "fake-model", "generate", f"filler {filled + j}", 0),
                                   "generate", json.dumps({"text": "x" * 40, "prompt_tokens": 9,
                                                           "completion_tokens": 3}))
                                  for j in range(batch)])
                filled += batch
            best = float("inf")
            for _ in range(5):  # best of 5: the least disturbed by other jobs
                started = time.perf_counter()
                for start in range(0, lookups, 32):  # as the scorer asks: chunks of requests
                    cached.generate(requests[start:start + 32])
                best = min(best, time.perf_counter() - started)
            assert cached.stats()["misses"] == lookups  # every timed call was a hit
            out[str(size)] = {"entries": filled, "seconds_per_1000_lookups": best * 1000 / lookups,
                              "file_mb": (Path(tmp) / "calls.sqlite").stat().st_size / 1e6}
        cached.close()
    return out


def run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="10000,50000,100000")
    p.add_argument("--cache-sizes", default="1000,100000")
    p.add_argument("--child", choices=["score", "read", "cache"], default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.child == "cache":
        sizes = [int(s) for s in args.cache_sizes.split(",")]
        print(json.dumps(child_cache(sizes, min(sizes))))
        return 0
    if args.child in ("score", "read"):
        print(json.dumps(child_score(Path(args.data), Path(args.out), args.child == "read")))
        return 0

    print("| rows | peak RSS, score (MB) | peak RSS, read only (MB) | score minus read (MB) | score time (s) | rows/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(r) for r in args.rows.split(",")):
            data = Path(tmp) / f"rows{n}.jsonl"
            make_rows(data, n)
            read = run_child(["--child", "read", "--data", str(data), "--out", "-"])
            score = run_child(["--child", "score", "--data", str(data), "--out", str(Path(tmp) / f"out{n}.jsonl")])
            assert score["rows"] == n
            print(f"| {n} | {score['peak_rss_mb']:.0f} | {read['peak_rss_mb']:.0f} | "
                  f"{score['peak_rss_mb'] - read['peak_rss_mb']:.0f} | {score['seconds']:.1f} | "
                  f"{n / score['seconds']:.0f} |", flush=True)
            os.unlink(data)
    cache = run_child(["--child", "cache", "--cache-sizes", args.cache_sizes])
    sizes = sorted(cache, key=int)
    print("\n| cache entries | file (MB) | ms per 1,000 cached lookups (best of 5) | ratio to smallest |")
    print("|---:|---:|---:|---:|")
    base = cache[sizes[0]]["seconds_per_1000_lookups"]
    for s in sizes:
        c = cache[s]
        print(f"| {c['entries']} | {c['file_mb']:.1f} | {c['seconds_per_1000_lookups'] * 1000:.1f} | "
              f"{c['seconds_per_1000_lookups'] / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
