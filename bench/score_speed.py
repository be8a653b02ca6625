"""Scoring speed: batched BSDetector against the same method asked one call at a time, and
against the backend's peak generated-token throughput, all in one run on one backend.

    python bench/score_speed.py --rows 8

Prints a markdown table. No call cache (every call really runs).

Its prompt rate is measured on synthetic 150-word prompts, 6-8x longer than the ones scoring
sends, and its floor assumes every prompt is evaluated in full (issue 15). For clearft against
llama.cpp's own server on the real prompts see `bench/llamacpp_parity.py`; for the paper's
method written plainly against clearft, `bench/bsdetector_yardstick.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend, Capabilities, Completion, GenerateRequest
from clearft.backends.delegating import DelegatingBackend
from clearft.data import open_dataset
from clearft.scoring import Usage, make_config, score_examples

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class OneAtATime(DelegatingBackend):
    """The straightforward implementation: every sample of every request is its own call."""

    @property
    def capabilities(self) -> Capabilities:
        # One call at a time: never streamed from several threads (the server's slots would
        # otherwise run the baseline's asks in parallel).
        return replace(self.inner.capabilities, parallel_requests=0)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        out = []
        for req in requests:
            parts = [self.inner.generate([req.single(i)])[0] for i in range(req.n)]
            out.append(Completion(
                texts=[t for p in parts for t in p.texts],
                first_token_logprobs=[lp for p in parts for lp in (p.first_token_logprobs or [{}])] if req.top_logprobs else None,
                prompt_tokens=sum(p.prompt_tokens for p in parts),
                completion_tokens=sum(p.completion_tokens for p in parts),
                error=next((p.error for p in parts if p.error), None),
            ))
        return out


def peak_throughput(backend: Backend, n: int, max_tokens: int, one_at_a_time: bool = False) -> float:
    """Generated tokens per second with many parallel free-running samples (or the same
    samples one request at a time: the single-sequence rate)."""
    reqs = [GenerateRequest([{"role": "user", "content": f"Write a long story about a robot number {i}."}],
                            temperature=1.0, max_tokens=max_tokens, seed=i) for i in range(n)]
    started = time.monotonic()
    done = [c for r in reqs for c in backend.generate([r])] if one_at_a_time else backend.generate(reqs)
    return sum(c.completion_tokens for c in done) / (time.monotonic() - started)


def prompt_rate(backend: Backend, n: int, words: int) -> float:
    """Prompt tokens evaluated per second: n distinct long prompts, one generated token each,
    all sent together (the backend batches their evaluation across its slots)."""
    reqs = [GenerateRequest([{"role": "user", "content": " ".join(f"w{i}x{j}" for j in range(words))}],
                            max_tokens=1, seed=i) for i in range(n)]
    started = time.monotonic()
    done = backend.generate(reqs)
    return sum(c.prompt_tokens for c in done) / (time.monotonic() - started)


def evaluated_prompt_tokens(backend: Any, examples: Sequence[Any], config: Any) -> tuple[int, int]:
    """(tokens of every row's sample prompt, of its reflection prompts): what any
    implementation must evaluate at least once per row."""
    from clearft.scoring import prompts

    sample = sum(len(backend.tokenize(backend.render_chat(prompts.sample_messages(ex.messages)))) for ex in examples)
    reflect = sum(
        len(backend.tokenize(backend.render_chat(prompts.reflection_messages(ex.prompt_text, ex.response, r, letter_first=True))
                             + prompts.ANSWER_PREFIX))
        for ex in examples for r in range(config.rounds))
    return sample, reflect


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--preset", default="medium")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--peak-requests", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=None, help="llama.cpp parallel slots")
    p.add_argument("--threads", type=int, default=None, help="ggml threads")
    p.add_argument("--fast-unreproducible", action="store_true",
                   help="llama.cpp's own batching settings instead of the reproducible ones")
    args = p.parse_args()
    from clearft.backends.registry import load_backend

    examples = list(open_dataset(DATA / "robustft" / "fpb" / "noisy" / "noisy30.csv"))[: args.rows]
    opts: dict = {k: v for k, v in (("concurrency", args.concurrency), ("threads", args.threads)) if v}
    if args.fast_unreproducible:
        opts["reproducible"] = False
    opts["reuse_prompts"] = False  # calls at once, as recorded (the default until session 20)
    backend = load_backend("llamacpp", **opts)
    config = make_config(args.preset, method="bsdetector", sample_max_tokens=args.max_tokens,
                         batch_size=len(examples))
    from clearft.scoring.similarity import get_similarity

    similarity = get_similarity(config.similarity)
    similarity([("warm", "up")])  # load the embedding model outside the timings
    peak = peak_throughput(backend, args.peak_requests, 64)
    single = peak_throughput(backend, 4, 64, one_at_a_time=True)
    prompt_tps = prompt_rate(backend, args.peak_requests, 150)

    rows = []
    for label, model in (("batched (score_examples)", backend), ("one call at a time", OneAtATime(backend))):
        usage = Usage()
        started = time.monotonic()
        results = score_examples(examples, model, config, usage, similarity, method="bsdetector")
        seconds = time.monotonic() - started
        rows.append((label, seconds, usage, results))
    base = rows[1][1]
    print(f"rows={len(examples)} preset={config.preset} k={config.k} rounds={config.rounds} "
          f"max_tokens={config.sample_max_tokens}; backend peak {peak:.0f} generated tok/s "
          f"({args.peak_requests} parallel requests x 64 tokens); one sequence at a time {single:.0f} tok/s "
          f"(parallel gain {peak / single:.2f}x); backend options {opts or 'defaults'}\n")
    print("| run | seconds | rows/s | speed-up | generated tok/s | share of peak | requests | calls |")
    print("|---|---|---|---|---|---|---|---|")
    for label, seconds, usage, _ in rows:
        tps = usage.completion_tokens / seconds
        print(f"| {label} | {seconds:.1f} | {len(examples) / seconds:.3f} | {base / seconds:.1f}x | "
              f"{tps:.0f} | {tps / peak:.2f} | {usage.requests} | {usage.calls} |")
    # The ceiling of ANY batched implementation of this method on this backend: it must
    # evaluate each row's sample prompt once and each reflection prompt once (at the measured
    # prompt rate at best) and generate the same tokens (at the parallel peak at best).
    sample_p, reflect_p = evaluated_prompt_tokens(backend, examples, config)
    generated = rows[0][2].completion_tokens
    floor = (sample_p + reflect_p) / prompt_tps + generated / peak
    print(f"\nceiling: prompts {sample_p} (samples) + {reflect_p} (reflections) tokens at {prompt_tps:.0f} "
          f"tok/s + {generated} generated at the {peak:.0f} tok/s peak = at least {floor:.1f} s; so no "
          f"batched implementation beats {base / floor:.1f}x over one call at a time, or "
          f"{generated / floor / peak:.2f} of peak")
    same = [r.confidence for r in rows[0][3]] == [r.confidence for r in rows[1][3]]
    print(f"\nbatched and one-at-a-time scores identical: {same}")
    if not same:
        diffs = [abs((a.confidence or 0) - (b.confidence or 0)) for a, b in zip(rows[0][3], rows[1][3], strict=True)]
        print(f"max |difference| {max(diffs):.4f}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
