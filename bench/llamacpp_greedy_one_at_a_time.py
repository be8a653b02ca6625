"""What sending calls one at a time (as prefix reuse needs) costs greedy one-sample calls.

    python bench/llamacpp_greedy_one_at_a_time.py --rows 16

Greedy calls that decode many tokens are where one call at a time should hurt most: 8 slots
decode 8 sequences side by side, one call at a time decodes one. Each of `--rows` FPB
sentences becomes a request for a long story (64 tokens at most); the same requests run on a
fresh 8-slot backend three times: every prompt afresh with 8 calls at once (the default),
then with prefix reuse and calls one at a time, then the default again (the machine's drift).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bsdetector_yardstick import fpb_mc  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--slots", type=int, default=8)
    args = ap.parse_args()

    from clearft.backends.base import GenerateRequest
    from clearft.backends.llamacpp import LlamaCppBackend, default_threads

    threads = default_threads()
    requests = [GenerateRequest([{"role": "user", "content":
                                  f"Write a long story about this news, at least 200 words: {r.prompt_text}"}],
                                max_tokens=args.max_tokens) for r in fpb_mc(args.rows)]
    print(f"{args.rows} greedy calls, {args.slots} slots, {threads} ggml threads")
    for name, reuse in [("afresh, calls at once (default)", False), ("reuse, one call at a time", True),
                        ("afresh, calls at once (default), again", False)]:
        backend = LlamaCppBackend(concurrency=args.slots, threads=threads, reuse_prompts=reuse)
        try:
            started = time.monotonic()
            out = backend.generate(requests)
            seconds = time.monotonic() - started
        finally:
            backend.close()
        made = sum(c.completion_tokens for c in out)
        print(f"{name}: {seconds:.1f} s, {made} tokens generated ({made / seconds:.1f} tok/s), "
              f"{sum(c.prompt_tokens for c in out)} prompt tokens ({sum(c.cached_prompt_tokens for c in out)} "
              f"from the cache), {sum(c.ok for c in out)}/{len(out)} ok", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
