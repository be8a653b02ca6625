"""The OpenAI-compatible backend against the in-process llama.cpp backend, on one server.

    python bench/openai_parity.py --rows 8

One `LlamaCppBackend` (clearft's defaults) is started; it also listens on a loopback port.
"in-process" rows call its `generate`; "openai" rows send the same requests through
`OpenAIBackend` to that port (HTTP + JSON, the path users of vLLM, Ollama or a remote
llama.cpp take), with the same concurrency. Same model, slots, threads and server settings,
so the ratio is what the HTTP client path costs. Measured as in bench/llamacpp_parity.py:
decode tokens/s with 1 and N sequences, prompt tokens/s on the prompts BSDetector sends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp_parity import Clearft, measure, rates_table, real_requests  # noqa: E402  (bench/llamacpp_parity.py)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=8, help="FPB rows whose BSDetector prompts are timed")
    p.add_argument("--preset", default="medium")
    p.add_argument("--parallel", type=int, default=16, help="slots, client concurrency and parallel sequences")
    p.add_argument("--threads", type=int, default=None, help="ggml threads (default: clearft's default_threads)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--order", default="in-process,openai,in-process,openai",
                   help="rows in order; repeat a name to see the drift within the run")
    args = p.parse_args()

    from clearft.backends.llamacpp import LlamaCppBackend, default_threads
    from clearft.backends.openai_backend import OpenAIBackend

    threads = args.threads or default_threads()
    requests = real_requests(args.rows, args.preset)
    local = LlamaCppBackend(concurrency=args.parallel, threads=threads, reuse_prompts=False)
    remote = OpenAIBackend(base_url=f"{local._address}/v1", model="default", api_key_env="CLEARFT_NO_KEY",
                           concurrency=args.parallel, max_concurrency=args.parallel)
    runners = {"in-process": Clearft(local), "openai": Clearft(remote)}
    results = []
    try:
        for name in args.order.split(","):
            results.append((name, measure(runners[name], requests, args.parallel, args.max_tokens)))
    finally:
        remote.close()
        local.close()
    print(f"{args.parallel} slots / client concurrency, {threads} threads; prompts: {len(requests)} BSDetector "
          f"prompts of {args.rows} FPB rows (preset {args.preset}); decode: {args.max_tokens}-token samples\n")
    print(rates_table("backend", results, args.parallel, "ratio to the first row (1 seq / N seq / prompt)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
