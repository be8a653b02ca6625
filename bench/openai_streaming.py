"""The OpenAI-compatible path with asks streamed (up to 64 in flight, a re-ask sent as soon as
an answer fails to parse) against the same backend offered whole batches and one retry round at
a time (as before session 15), on one local llama.cpp server (issue 15).

    python bench/openai_streaming.py --rows 8 --kinds fpb-mc,fpb-plain

One `LlamaCppBackend` (clearft's defaults, --slots slots) listens on a loopback port;
`OpenAIBackend` sends BSDetector's requests (preset medium) there over HTTP, the path users of
vLLM, Ollama or a remote llama.cpp take, with its adaptive gate allowed up to --in-flight
requests. The two modes alternate per data kind, each on a freshly started server (its prompt
cache empty), so a slow spell on the machine falls on both and neither inherits the other's
cached prompts.
Rows are bench/bsdetector_yardstick.py's: FPB multiple-choice and FPB as plain
prompt/response rows (where reflections often need re-asks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bsdetector_yardstick import Batched, fpb_mc, fpb_plain  # noqa: E402  (bench/bsdetector_yardstick.py)
from clearft.scoring import Usage, make_config, score_examples  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=8, help="rows of each kind")
    p.add_argument("--kinds", default="fpb-mc,fpb-plain")
    p.add_argument("--slots", type=int, default=16, help="the server's parallel sequences")
    p.add_argument("--in-flight", type=int, default=64, help="the OpenAI client's most requests in flight")
    args = p.parse_args()

    from clearft.backends.llamacpp import LlamaCppBackend
    from clearft.backends.openai_backend import OpenAIBackend
    from clearft.scoring.similarity import get_similarity

    loaders = {"fpb-mc": fpb_mc, "fpb-plain": fpb_plain}
    kinds = {k: loaders[k](args.rows) for k in args.kinds.split(",")}
    config = make_config("medium", method="bsdetector", batch_size=args.rows)
    similarity = get_similarity(config.similarity)
    similarity([("warm", "up")])
    lines = []
    for kind, rows in kinds.items():
        for label, batched in (("streamed (now)", False), ("batched rounds (before)", True),
                               ("streamed (now), again", False), ("batched rounds (before), again", True)):
            # a fresh server each time: the server's prompt cache would otherwise carry the
            # earlier runs' prompts into the later ones
            server = LlamaCppBackend(concurrency=args.slots, reuse_prompts=False)
            client = OpenAIBackend(base_url=f"{server._address}/v1", model="default", api_key_env="CLEARFT_NO_KEY",
                                   concurrency=args.slots, max_concurrency=args.in_flight)
            try:
                usage = Usage()
                started = time.monotonic()
                results = score_examples(rows, Batched(client) if batched else client, config, usage, similarity,
                                         method="bsdetector")
                seconds = time.monotonic() - started
            finally:
                client.close()
                server.close()
            unknown = sum(r.evidence.get("unknown", 0) for r in results)
            lines.append(f"| {kind} | {label} | {len(rows)} | {seconds:.1f} | {len(rows) / seconds:.3f} | "
                         f"{usage.requests} | {usage.prompt_tokens} ({usage.cached_prompt_tokens} cached) | "
                         f"{usage.completion_tokens} | {unknown} |")
            print(lines[-1], flush=True)
    print(f"\n{args.slots} server slots, client gate up to {args.in_flight} in flight; BSDetector preset medium\n")
    print("| rows | clearft mode | n | s | rows/s | requests | prompt tokens | generated tokens | unparseable |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
