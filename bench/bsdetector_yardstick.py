"""The yardstick for BSDetector's speed: the paper's method written plainly against clearft,
in one run, on three kinds of rows.

    python bench/bsdetector_yardstick.py --rows 8

* "paper, plainly": llama.cpp's own server (xllamacpp, its default settings, no clearft code
  on the request path), one call at a time: each of the k samples its own call, both
  reflection rounds their own call answered in the template's "explanation: ..., answer: X"
  form (up to 128 tokens), the same similarity model over the samples.
* "clearft": `score_examples` on the llamacpp backend with its defaults (what `clearft score
  --method bsdetector --cache off` runs per batch); the model load is outside both timings.
  With calls one at a time (its default since session 20, prompt reuse) the asks go as one
  batch and one call per retry round; with calls at once (``CLEARFT_LLAMA_PROMPT_REUSE=0``,
  "every prompt afresh") they are streamed to the slots, a re-ask sent as soon as an answer
  fails to parse; "retry requests" counts the re-asks. With --rounds-too, also as before session 15:
  the batch in one call, then one call per retry round.

Rows: FPB multiple-choice rows (noisy30.csv), FPB plain prompt/response rows (a one-word
instruction, the label as a word: held-out test.csv sentences), GSM8K test questions with
their worked solutions. Also llama.cpp's own decode peak (16 sequences) and its prompt rate on
each kind's own BSDetector prompts (all sent together, one token each, cache off), measured on
the same server, so clearft's generated tokens/s can be put against the peak, and a floor
computed from clearft's tokens: the prompt tokens it had evaluated at llama.cpp's prompt rate
plus the tokens it generated at llama.cpp's decode peak (no overlap of the two, every token
decoded at the peak). plain / floor is the most any scheduling of those tokens could gain over
the plain method; fewer tokens is the only way past it.

With --reuse-too, clearft is also timed with prompt reuse on (calls one at a time, the k
samples still side by side) and off, whatever the backend's default at this concurrency is.

With --default-too, clearft's default for the kind (`--method auto`: on these few rows, free
text, so the backend's free-text default) is timed too, log-likelihood start-up apart.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend, Capabilities
from clearft.backends.delegating import DelegatingBackend
from clearft.data import open_dataset
from clearft.data.example import Example
from clearft.scoring import Usage, make_config, prompts, resolve_method, score_examples
from clearft.scoring.bsdetector_method import SAMPLED_REFLECTION_TOKENS
from clearft.scoring.result import row_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed as timed_call  # noqa: E402  (bench/timing.py)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def fpb_mc(n: int) -> list[Example]:
    return list(open_dataset(DATA / "robustft" / "fpb" / "noisy" / "noisy30.csv"))[:n]


def fpb_plain(n: int) -> list[Example]:
    with (DATA / "robustft" / "fpb" / "test.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[-n:]
    return [Example(f"fpb-plain-{i}", [{"role": "user", "content": "Sentiment: " + r["question"].split("\n", 1)[-1]}],
                    r["gt"]) for i, r in enumerate(rows)]


def gsm8k(n: int) -> list[Example]:
    out = []
    with (DATA / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        for i, line in zip(range(n), f, strict=False):
            r = json.loads(line)
            out.append(Example(f"gsm-{i}", [{"role": "user", "content": r["question"]}], r["answer"]))
    return out


# ---------------------------------------------------------------------------------------
# The paper's method written plainly, straight against llama.cpp's server


def paper_plainly(server: Any, examples: Sequence[Example], config: Any, similarity: Any) -> dict[str, float]:
    """BSDetector one call at a time: seconds, and the server's own counts (``timings``) of
    prompt tokens evaluated and taken from its cache, tokens generated and the time it spent
    generating them."""
    started = time.monotonic()
    counts = {"prompt_n": 0.0, "cache_n": 0.0, "predicted_n": 0.0, "predicted_ms": 0.0}

    def call(payload: dict[str, Any]) -> str:
        r = server.handle_chat_completions(payload)
        for key in counts:
            counts[key] += float(r["timings"].get(key, 0))
        return str(r["choices"][0]["message"]["content"] or "")

    for ex in examples:
        seed = row_seed(config.seed, ex.id, "samples")
        texts = [call({"messages": prompts.sample_messages(ex.messages), "temperature": config.temperature,
                       "max_tokens": config.sample_max_tokens, "seed": seed + i}) for i in range(config.k)]
        for rnd in range(config.rounds):
            call({"messages": prompts.reflection_messages(ex.prompt_text, ex.response, rnd),
                  "temperature": 0.0, "max_tokens": SAMPLED_REFLECTION_TOKENS, "seed": seed})
        similarity([(t, ex.response) for t in texts])
    return {"seconds": time.monotonic() - started, **counts}


def decode_peak(server: Any, n: int = 16, max_tokens: int = 64) -> float:
    def one(i: int) -> int:
        r = server.handle_chat_completions({
            "messages": [{"role": "user", "content": f"Write a long story about a robot number {i}."}],
            "temperature": 1.0, "max_tokens": max_tokens, "seed": i})
        return int(r["usage"]["completion_tokens"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=n) as pool:
        tokens = sum(pool.map(one, range(n)))
    return tokens / (time.monotonic() - started)


# ---------------------------------------------------------------------------------------
# clearft as it runs (asks streamed to the server's slots), and as it ran before (batched rounds)


class Batched(DelegatingBackend):
    """The backend, but offered whole batches and one batch per retry round (as before
    session 15): it hides the server's parallel_requests from ask_all."""

    @property
    def capabilities(self) -> Capabilities:
        return replace(self.inner.capabilities, parallel_requests=0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=8, help="rows of each kind")
    p.add_argument("--kinds", default="fpb-mc,fpb-plain,gsm8k")
    p.add_argument("--preset", default="medium")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--slots", type=int, default=16, help="llama.cpp slots for the raw server's decode peak")
    p.add_argument("--fast-too", action="store_true", help="also time clearft with reproducible=False")
    p.add_argument("--default-too", action="store_true", help="also time clearft's default method (auto)")
    p.add_argument("--reuse-too", action="store_true",
                   help="also time clearft with prompt reuse on (calls one at a time) and off, whatever the default")
    p.add_argument("--rounds-too", action="store_true",
                   help="also time clearft with batched retry rounds (before asks were streamed)")
    args = p.parse_args()

    from clearft.backends.llamacpp import LlamaCppBackend, default_threads
    from clearft.models import default_gguf_path
    from clearft.scoring.similarity import get_similarity
    from llamacpp_parity import Raw, bsdetector_prompts, raw_server

    threads = args.threads or default_threads()
    config = make_config(args.preset, method="bsdetector", batch_size=args.rows)
    similarity = get_similarity(config.similarity)
    similarity([("warm", "up")])
    loaders = {"fpb-mc": fpb_mc, "fpb-plain": fpb_plain, "gsm8k": gsm8k}
    kinds = {k: loaders[k](args.rows) for k in args.kinds.split(",")}

    server = raw_server(default_gguf_path(), args.slots, threads, {})
    peak = decode_peak(server, args.slots)
    prompt_rate = {k: Raw(server, args.slots).prompts(bsdetector_prompts(rows, config.rounds))[0] for k, rows in kinds.items()}
    del server
    # The plain method on a server of its own: the prompt-rate run above leaves these prompts in
    # the slots and the RAM prompt cache, which the plain calls (prompt cache on) would reuse.
    server = raw_server(default_gguf_path(), args.slots, threads, {})
    plain = {k: paper_plainly(server, rows, config, similarity) for k, rows in kinds.items()}
    del server

    lines = []
    # (label, the backend's settings, batched retry rounds); one backend per settings, in order
    default: dict[str, Any] = {"reproducible": True}
    variants = [("clearft", default, False)]
    if args.rounds_too:
        variants.append(("clearft, batched rounds (before)", default, True))
    if args.reuse_too:
        variants.append(("clearft, prompt reuse (calls one at a time)", {"reproducible": True, "reuse_prompts": True}, False))
        variants.append(("clearft, every prompt afresh", {"reproducible": True, "reuse_prompts": False}, False))
    if args.fast_too:
        variants.append(("clearft --fast-unreproducible", {"reproducible": False}, False))
    first_requests = 1 + config.rounds  # a row's sample request (its k samples) and reflections
    for settings in [default] + [kw for _, kw, _ in variants if kw is not default]:
        backend = LlamaCppBackend(threads=threads, **settings)
        try:
            for label, _, rounds in [v for v in variants if v[1] is settings]:
                model: Backend = Batched(backend) if rounds else backend
                for kind, rows in kinds.items():
                    usage = Usage()
                    started = time.monotonic()
                    results = score_examples(rows, model, config, usage, similarity, method="bsdetector")
                    seconds = time.monotonic() - started
                    retries = usage.requests - first_requests * len(rows)
                    unknown = sum(r.evidence.get("unknown", 0) for r in results)
                    p_s = plain[kind]["seconds"]
                    cached = usage.cached_prompt_tokens
                    floor = (usage.prompt_tokens - cached) / prompt_rate[kind] + usage.completion_tokens / peak
                    lines.append(
                        f"| {kind} | {label} | {len(rows)} | {len(rows) / p_s:.3f} | {len(rows) / seconds:.3f} | "
                        f"**{p_s / seconds:.2f}x** | {floor:.1f} s ({floor / seconds:.2f}) | {p_s / floor:.2f}x | "
                        f"{usage.completion_tokens / seconds:.0f} "
                        f"({usage.completion_tokens / seconds / peak:.2f}) | {retries} | "
                        f"{usage.requests} | {usage.prompt_tokens} ({cached} cached) | {unknown} |")
            if args.default_too and settings is default:
                auto = make_config(args.preset, batch_size=args.rows)
                for kind, rows in kinds.items():
                    method = resolve_method(auto, rows, backend)
                    if method in ("ifd", "perplexity"):
                        _, start_s = timed_call(backend.forward.ready)
                        print(f"log-likelihood path ({backend.forward.path or 'forced'}) start-up: {start_s:.1f} s")
                    usage = Usage()
                    started = time.monotonic()
                    score_examples(rows, backend, auto, usage, method=method)
                    seconds = time.monotonic() - started
                    p_s = plain[kind]["seconds"]
                    lines.append(f"| {kind} | clearft default ({method}) | {len(rows)} | {len(rows) / p_s:.3f} | "
                                 f"{len(rows) / seconds:.3f} | **{p_s / seconds:.2f}x** | | | | | "
                                 f"{usage.requests} | {usage.prompt_tokens} | |")
        finally:
            backend.close()
    print(f"preset {config.preset} (k={config.k}, rounds={config.rounds}, {config.sample_max_tokens} tokens); "
          f"{threads} threads; llama.cpp's own decode peak {peak:.0f} tok/s ({args.slots} sequences), prompt rate "
          + ", ".join(f"{k} {r:.0f}" for k, r in prompt_rate.items())
          + " tok/s; clearft's backend at its default concurrency\n")
    print("| rows | backend | n | paper, plainly: rows/s | clearft: rows/s | speed-up | floor (clearft's share of it) | "
          "plain / floor | clearft generated tok/s (share of peak) | retry requests | requests | "
          "prompt tokens | unknown samples/verdicts |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print("\nThe paper's method written plainly, as llama.cpp's server counted it (its prompt cache on, "
          "its default):\n")
    print("| rows | seconds | prompt tokens evaluated (taken from the cache) | tokens generated | "
          "decode tok/s, one sequence |")
    print("|---|---|---|---|---|")
    for kind, c in plain.items():
        print(f"| {kind} | {c['seconds']:.1f} | {c['prompt_n']:.0f} ({c['cache_n']:.0f}) | {c['predicted_n']:.0f} | "
              f"{1000 * c['predicted_n'] / max(c['predicted_ms'], 1e-9):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
