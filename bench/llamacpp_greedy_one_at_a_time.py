"""What sending calls one at a time (as prefix reuse needs) costs calls that gain nothing from
reuse: greedy one-sample calls and label log-likelihoods.

    python bench/llamacpp_greedy_one_at_a_time.py --rows 16

Greedy calls that decode many tokens are where one call at a time should hurt most: 8 slots
decode 8 sequences side by side, one call at a time decodes one. Each of `--rows` FPB
sentences becomes a request for a long story (64 tokens at most); the same requests run on a
fresh 8-slot backend three times: every prompt afresh with 8 calls at once
(``CLEARFT_LLAMA_PROMPT_REUSE=0``), then with prefix reuse and calls one at a time (the
default since session 20), then the first again (the machine's drift). On each backend, also
the log-likelihood of each of the three answer letters after each FPB multiple-choice row
(the forced path: a few tokens each, every prompt afresh).
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

    from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
    from clearft.backends.llamacpp import LlamaCppBackend, default_threads

    threads = default_threads()
    requests = [GenerateRequest([{"role": "user", "content":
                                  f"Write a long story about this news, at least 200 words: {r.prompt_text}"}],
                                max_tokens=args.max_tokens) for r in fpb_mc(args.rows)]
    print(f"{args.rows} greedy calls, {args.slots} slots, {threads} ggml threads")
    labels = [LoglikelihoodRequest(r.messages, letter) for r in fpb_mc(args.rows) for letter in "ABC"]
    for name, reuse in [("afresh, calls at once", False), ("reuse, one call at a time (default)", True),
                        ("afresh, calls at once, again", False)]:
        backend = LlamaCppBackend(concurrency=args.slots, threads=threads, reuse_prompts=reuse)
        try:
            started = time.monotonic()
            out = backend.generate(requests)
            seconds = time.monotonic() - started
            started = time.monotonic()
            scored = backend.loglikelihood(labels)
            label_seconds = time.monotonic() - started
        finally:
            backend.close()
        made = sum(c.completion_tokens for c in out)
        print(f"{name}: {seconds:.1f} s, {made} tokens generated ({made / seconds:.1f} tok/s), "
              f"{sum(c.prompt_tokens for c in out)} prompt tokens ({sum(c.cached_prompt_tokens for c in out)} "
              f"from the cache), {sum(c.ok for c in out)}/{len(out)} ok; {len(labels)} label log-likelihoods: "
              f"{label_seconds:.1f} s, {sum(r.ok for r in scored)}/{len(scored)} ok", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
