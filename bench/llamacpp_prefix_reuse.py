"""Reproducible prefix reuse in the llamacpp backend: the same scores, fewer prompt tokens.

    python bench/llamacpp_prefix_reuse.py --rows 8

For each kind of row (FPB multiple-choice, FPB plain prompt/response, GSM8K), BSDetector
(preset medium, `score_examples` as `clearft score --method bsdetector --cache off` runs a
batch) scores the rows five times, each on a freshly started backend:

* "afresh": every prompt evaluated afresh, one call per slot at once (`reuse_prompts=False`:
  the default with parallel slots until session 20; now `CLEARFT_LLAMA_PROMPT_REUSE=0`);
* "afresh, reversed": the control -- how much the order alone moves a score without reuse
  (a sample's last tokens decode beside other slots or alone, in one schedule or another);
* "afresh, one call at a time" (`in_flight=1`): what reuse must equal exactly;
* "reuse": cached prefixes taken where `PromptReuseGuard` can tell they change nothing, calls
  one at a time (the default with any number of slots since session 20);
* "reuse, reversed": the same, rows in reverse order (other slot histories).

Reported: seconds, the speed-up over "afresh", prompt tokens evaluated and taken from the
cache, calls the guard refused and sent again afresh, how many rows' scores (confidence,
consistency, self-reflection) are bit-identical to "afresh" and to "afresh, one call at a
time", and the largest change of a row's confidence against "afresh".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bsdetector_yardstick import fpb_mc, fpb_plain, gsm8k  # noqa: E402
from timing import markdown_table  # noqa: E402  (bench/timing.py)


def score(rows: list[Any], reuse: bool, threads: int, slots: int, config: Any, similarity: Any,
          in_flight: int | None = None) -> dict[str, Any]:
    from clearft.backends.llamacpp import LlamaCppBackend
    from clearft.scoring import Usage, score_examples

    backend = LlamaCppBackend(concurrency=slots, threads=threads, reuse_prompts=reuse, in_flight=in_flight)
    try:
        usage = Usage()
        started = time.monotonic()
        results = score_examples(rows, backend, config, usage, similarity, method="bsdetector")
        seconds = time.monotonic() - started
        return {"seconds": seconds, "usage": usage, "redone": backend.reuse_redone,
                "scores": {r.id: (r.confidence, r.consistency, r.self_reflection) for r in results}}
    finally:
        backend.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--kinds", default="fpb-mc,fpb-plain,gsm8k")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--slots", type=int, default=8, help="the backend's concurrency (clearft's default: 8)")
    ap.add_argument("--threads", type=int, default=None, help="ggml threads (default: clearft's default_threads)")
    args = ap.parse_args()

    from clearft.backends.llamacpp import default_threads
    from clearft.scoring import make_config
    from clearft.scoring.similarity import get_similarity

    threads = args.threads or default_threads()
    config = make_config(args.preset, method="bsdetector", batch_size=args.rows)
    similarity = get_similarity(config.similarity)
    similarity([("warm", "up")])
    loaders = {"fpb-mc": fpb_mc, "fpb-plain": fpb_plain, "gsm8k": gsm8k}
    table = []
    for kind in args.kinds.split(","):
        rows = loaders[kind](args.rows)
        fresh = score(rows, False, threads, args.slots, config, similarity)
        serial = score(rows, False, threads, args.slots, config, similarity, in_flight=1)
        runs = [("afresh", fresh),
                ("afresh, reversed", score(rows[::-1], False, threads, args.slots, config, similarity)),
                ("afresh, one call at a time", serial),
                ("reuse", score(rows, True, threads, args.slots, config, similarity)),
                ("reuse, reversed", score(rows[::-1], True, threads, args.slots, config, similarity))]
        for name, run in runs:
            u = run["usage"]
            same = sum(run["scores"][k] == v for k, v in fresh["scores"].items())
            same_serial = sum(run["scores"][k] == v for k, v in serial["scores"].items())
            worst = max(abs((run["scores"][k][0] or 0.0) - (v[0] or 0.0)) for k, v in fresh["scores"].items())
            table.append([kind, name, len(rows), f"{run['seconds']:.1f}", f"{fresh['seconds'] / run['seconds']:.2f}x",
                          u.requests, u.prompt_tokens - u.cached_prompt_tokens, u.cached_prompt_tokens, run["redone"],
                          f"{same}/{len(rows)}", f"{same_serial}/{len(rows)}", f"{worst:.2g}"])
        print(table[-len(runs):], flush=True)
    print(f"\nBSDetector preset {args.preset}, {args.slots} slots, {threads} ggml threads\n")
    print(markdown_table(["rows", "prompts", "n", "seconds", "speed-up over afresh", "requests",
                          "prompt tokens evaluated", "prompt tokens from the cache", "calls redone afresh",
                          "rows bit-identical to afresh", "... to afresh one at a time",
                          "largest confidence change"], table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
