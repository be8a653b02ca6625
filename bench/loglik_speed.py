"""Log-likelihood speed on the llama.cpp backend, on IFD's requests for real GSM8K rows, in one
run: forcing the continuation token by token (the only path before session 12) against the
two forward-pass paths (continuations of 16 tokens or more now take the first that works):
the same GGUF in torch, and llama.cpp's hidden states times the output matrix.

    python bench/loglik_speed.py --rows 20 [--repeat 2] [--transformers]

Requests: for each row, the worked solution given the question, and the solution given an
empty prompt (what `--method ifd` sends). Tokens = prompt + continuation tokens of every
request (the forced path takes the prompt from the slot's cache when two requests share it;
these do not). Each path runs `--repeat` times, alternating; the best time is reported.
Prints a markdown table (seconds, tokens/s, speed-up) and how far the forward-pass paths'
log-probabilities are from the forced path's: per request, the sum and the mean a token,
and the IFD score 1 / (1 + PPL(y|x) / PPL(y)). Also checks that the default path gives the
same numbers for a request scored alone as in the batch. `--transformers`: the same
requests through the transformers backend (its own padded batches of 8).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from clearft.backends.base import LoglikelihoodRequest, LoglikelihoodResult
from clearft.backends.llamacpp_payload import map_in_threads
from clearft.scoring import prompts

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gsm8k" / "test.jsonl"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import markdown_table, timed  # noqa: E402  (bench/timing.py)


def ifd_requests(rows: int) -> list[LoglikelihoodRequest]:
    with DATA.open(encoding="utf-8") as f:
        data = [json.loads(line) for _, line in zip(range(rows), f, strict=False)]
    cond = [LoglikelihoodRequest([{"role": "user", "content": r["question"]}], r["answer"]) for r in data]
    return cond + [LoglikelihoodRequest(prompts.EMPTY_PROMPT, r["answer"]) for r in data]


def by_path(backend: Any, path: str, reqs: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
    """Every request through one path: "forced" (the only one before session 12), "torch" or
    "hidden-states" (the forward-pass paths), as the backend's own threads send them."""
    def one(req: LoglikelihoodRequest) -> LoglikelihoodResult:
        try:
            prompt = backend.render_chat(req.messages) + req.assistant_prefix
            ids = backend.tokenize(req.continuation)
            if path == "forced":
                return backend._forced_loglikelihood(prompt, ids)
            return backend.forward.loglikelihood(path, prompt, ids)
        except Exception as exc:
            return LoglikelihoodResult(0.0, 0, error=f"{type(exc).__name__}: {exc}")
    return map_in_threads(one, reqs, backend.concurrency)


def ifd_scores(results: list[LoglikelihoodResult]) -> list[float | None]:
    n = len(results) // 2
    out: list[float | None] = []
    for c, u in zip(results[:n], results[n:], strict=True):
        if not (c.ok and u.ok):
            out.append(None)
            continue
        ifd = math.exp(-c.logprob / c.n_tokens) / math.exp(-u.logprob / u.n_tokens)
        out.append(1 / (1 + ifd))
    return out


def gaps(ref: list[LoglikelihoodResult], new: list[LoglikelihoodResult]) -> tuple[float, float, float, int]:
    """(max |sum diff|, max |mean-per-token diff|, max |IFD score diff|, requests both scored)."""
    both = [(a, b) for a, b in zip(ref, new, strict=True) if a.ok and b.ok and a.n_tokens == b.n_tokens]
    d_sum = max(abs(a.logprob - b.logprob) for a, b in both)
    d_mean = max(abs(a.logprob - b.logprob) / a.n_tokens for a, b in both)
    d_ifd = max((abs(x - y) for x, y in zip(ifd_scores(ref), ifd_scores(new), strict=True)
                 if x is not None and y is not None), default=float("nan"))
    return d_sum, d_mean, d_ifd, len(both)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--repeat", type=int, default=2, help="passes of each path, alternating; the best is reported")
    p.add_argument("--transformers", action="store_true", help="also the transformers backend on the same GGUF")
    args = p.parse_args()
    from clearft.backends.llamacpp import PROMPT_RATE_MIN_TOKENS, PROMPT_RATE_PATHS, LlamaCppBackend

    reqs = ifd_requests(args.rows)
    backend = LlamaCppBackend(reuse_prompts=False)  # by_path sends from several threads, past the gate
    tokens = sum(len(backend._post("/tokenize", {"content": backend.render_chat(r.messages), "add_special": True})
                     ["tokens"]) + len(backend.tokenize(r.continuation)) for r in reqs)
    short = sum(len(backend.tokenize(r.continuation)) < PROMPT_RATE_MIN_TOKENS for r in reqs)
    _, t_start = timed(backend.forward.ready)
    print(f"default forward-pass path: {backend.forward.path or 'none'} {backend.forward.note} (start + probe "
          f"{t_start:.1f} s); {short} of {len(reqs)} continuations shorter than {PROMPT_RATE_MIN_TOKENS} tokens "
          "stay forced")
    paths = ["forced", *PROMPT_RATE_PATHS]
    for path in PROMPT_RATE_PATHS:
        if path != backend.forward.path:
            _, t = timed(backend.forward.start, path)
            print(f"{path}: start + probe {t:.1f} s")
    best = dict.fromkeys(paths, math.inf)
    results: dict[str, list[LoglikelihoodResult]] = {}
    for _ in range(args.repeat):  # alternating, the best of each (other work on the machine only slows a pass)
        for path in paths:
            results[path], t = timed(by_path, backend, path, reqs)
            best[path] = min(best[path], t)
        print("pass: " + ", ".join(f"{k} {v:.1f} s" for k, v in best.items()) + " (best so far)", flush=True)
    default = backend.loglikelihood(reqs)
    alone = [backend.loglikelihood([r])[0] for r in reqs[:4] + reqs[args.rows:args.rows + 4]]
    same = all(a.logprob == b.logprob for a, b in
               zip(alone, default[:4] + default[args.rows:args.rows + 4], strict=True))
    backend.close()
    names = {"forced": "llama.cpp, forced token by token (before)",
             "torch": "torch forward pass of the same GGUF (float32, one request at a time)",
             "hidden-states": "llama.cpp forward pass, hidden states x output matrix"}
    rows = [[names[k], f"{best[k]:.1f}", f"{tokens / best[k]:.0f}", f"{best['forced'] / best[k]:.2f}x"] for k in paths]
    compared = [(f"{k} vs forced", *gaps(results["forced"], results[k])) for k in PROMPT_RATE_PATHS]
    compared.append(("torch vs hidden-states", *gaps(results["hidden-states"], results["torch"])))
    if args.transformers:
        from clearft.backends.transformers_backend import TransformersBackend

        hf = TransformersBackend(model=backend.model_path)
        hf.loglikelihood(reqs[:2])  # warm-up
        hf_results, t_hf = timed(hf.loglikelihood, reqs)
        hf.close()
        rows.append(["transformers backend (float32, padded batches of 8)", f"{t_hf:.1f}", f"{tokens / t_hf:.0f}",
                     f"{best['forced'] / t_hf:.2f}x"])
        compared.append(("transformers backend vs forced", *gaps(results["forced"], hf_results)))
    print(f"\n{args.rows} GSM8K rows, {len(reqs)} IFD requests, {tokens} prompt + continuation tokens")
    print(markdown_table(["path", "seconds", "tokens/s", "speed-up"], rows, "lrrr"))
    print()
    print(markdown_table(["compared", "max abs diff, sum (nats)", "max abs diff a token (nats)",
                          "max abs diff, IFD score", "requests"],
                         [[n, f"{a:.3f}", f"{b:.4f}", f"{c:.4f}", k] for n, a, b, c, k in compared], "lrrrr"))
    errors = {name: sum(not r.ok for r in res) for name, res in results.items()}
    print(f"\nerrors: {errors}; default path ({backend.forward.path}): 8 requests scored alone identical to the "
          f"batch: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
