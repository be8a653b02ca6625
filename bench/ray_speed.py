"""Rows per second of scoring: the local runner against the Ray engine with 1 and 2 actors,
on the same rows, settings and default model, in one process run (so the ratios are
measured under the same machine load). Also checks that every run's scores equal the
local runner's.

    python bench/ray_speed.py --rows 32 --preset base --batch-size 4 --replicas 1,2

Prints a markdown table. Ray's cluster start is timed apart; each engine run's time
includes starting its actors and loading one model per actor (what a user waits for).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "robustft" / "fpb" / "noisy" / "noisy30.csv"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import markdown_table, timed  # noqa: E402  (bench/timing.py)


def first_rows(src: Path, n: int, dst: Path) -> Path:
    with src.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n]
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst


def confidences(path: Path) -> list[float | None]:
    return [json.loads(line)["confidence"] for line in path.read_text(encoding="utf-8").splitlines()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--preset", default="base")
    ap.add_argument("--method", default="bsdetector")
    ap.add_argument("--similarity", default="exact")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="llama.cpp parallel sequences per replica (1: batch-invariant numbers)")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()

    import ray

    from clearft.engines import BackendSpec, EngineConfig
    from clearft.engines.ray_engine import RayEngine
    from clearft.scoring import make_config, score_file, score_file_on_engine

    tmp = Path(tempfile.mkdtemp(prefix="ray-speed-"))
    data = first_rows(args.data, args.rows, tmp / "rows.csv")
    config = make_config(args.preset, method=args.method, similarity=args.similarity, batch_size=args.batch_size)
    spec = BackendSpec("llamacpp", "off", {"concurrency": args.concurrency})
    quiet = {"progress": False, "log": lambda _m: None}
    lines = []

    def run_local(out: Path) -> tuple[float, float]:
        backend, load = timed(spec.open)
        with backend:
            _, seconds = timed(score_file, data, out, backend, config, **quiet)  # type: ignore[arg-type]
            return seconds, load

    local_s, load = run_local(tmp / "local.jsonl")
    reference = confidences(tmp / "local.jsonl")
    lines.append(("local runner (score_file)", local_s, load, True))

    _, ray_start = timed(ray.init, num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    for n in [int(x) for x in args.replicas.split(",")]:
        engine = RayEngine(EngineConfig(engine="ray", replicas=n, cpus_per_replica=1, progress=False))
        out = tmp / f"ray{n}.jsonl"
        _, seconds = timed(score_file_on_engine, data, out, spec, config, engine, **quiet)  # type: ignore[arg-type]
        lines.append((f"ray engine, {n} actor{'s' if n > 1 else ''}", seconds, None, confidences(out) == reference))
    ray.shutdown()
    # The machine is shared: the local runner again, last, shows how much the load drifted.
    again, _ = run_local(tmp / "local_again.jsonl")
    lines.append(("local runner again, after the Ray runs", again, None,
                  confidences(tmp / "local_again.jsonl") == reference))

    print(f"Scoring {args.rows} FPB-30 rows, method {args.method}, preset {args.preset}, batch size "
          f"{args.batch_size}, default model via llama.cpp with {args.concurrency} sequence(s) per replica; "
          f"{os.cpu_count()} CPUs, {platform.python_version()}, Ray {ray.__version__}.\n")
    print(markdown_table(["runner", "seconds", "rows/s", "vs local", "scores equal local"],
                         [[name, f"{secs:.1f}", f"{args.rows / secs:.2f}", f"{local_s / secs:.2f}x",
                           "yes" if equal else "NO"] for name, secs, _load, equal in lines], align="lrrrl"))
    print(f"\nModel load in the local process: {lines[0][2]:.1f} s (not in its time); local Ray cluster "
          f"start: {ray_start:.1f} s (not in the engine times, which do include starting actors "
          f"and loading one model per actor).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
