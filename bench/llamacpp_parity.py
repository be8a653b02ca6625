"""clearft's llama.cpp backend against llama.cpp's own server, side by side in one run.

    python bench/llamacpp_parity.py --rows 16

The same GGUF, slots and threads for every configuration. "llama.cpp" rows talk to
`xllamacpp.Server` directly (no clearft code on the request path); "clearft" rows go
through `LlamaCppBackend.generate`. Measured for each:

* decode tokens/s with 16 sequences (mean of 2 waves) and with 1 (mean of 3; free-running
  64-token samples);
* prompt tokens/s on the prompts clearft really sends for BSDetector at the chosen preset
  (FPB rows: the sample prompt and the reflection prompts), one generated token each,
  all sent together. Rate = prompt tokens of those prompts / wall seconds, for every row
  alike (a backend that reuses a cached prefix shows it as a higher rate; the evaluated
  share is printed beside it).

Prints a markdown table; the ratio column is against the first row (llama.cpp's defaults).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clearft.backends.base import GenerateRequest
from clearft.data import open_dataset
from clearft.data.example import Example
from clearft.scoring import make_config, prompts

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
STORY = "Write a long story about a robot number {i}."

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import markdown_table, timed  # noqa: E402  (bench/timing.py)


def real_requests(rows: int, preset: str) -> list[GenerateRequest]:
    """The prompts BSDetector sends for `rows` FPB rows (as 1-token requests)."""
    examples = list(open_dataset(DATA / "robustft" / "fpb" / "noisy" / "noisy30.csv"))[:rows]
    return bsdetector_prompts(examples, make_config(preset, method="bsdetector").rounds)


def bsdetector_prompts(examples: Sequence[Example], rounds: int) -> list[GenerateRequest]:
    """The prompts clearft's BSDetector sends for `examples` (the sample prompt, then each
    reflection round letter-first after its prefix), as one-token requests."""
    out = []
    for ex in examples:
        out.append(GenerateRequest(prompts.sample_messages(ex.messages), max_tokens=1))
        for r in range(rounds):
            out.append(GenerateRequest(prompts.reflection_messages(ex.prompt_text, ex.response, r, letter_first=True),
                                       max_tokens=1, assistant_prefix=prompts.ANSWER_PREFIX))
    return out


# ---------------------------------------------------------------------------------------
# llama.cpp's own server, no clearft code


def raw_server(model: Path, parallel: int, threads: int, settings: dict[str, Any]) -> Any:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(model)
    p.n_parallel = parallel
    p.n_ctx = 2048 * parallel
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.warmup = False
    p.verbosity = -1
    for name, value in settings.items():
        setattr(p, name, value)
    return xllamacpp.Server(p)


def _pool_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(fn, items))


class Raw:
    """Decode and prompt measurements straight against the server's handlers."""

    def __init__(self, server: Any, parallel: int) -> None:
        self.server, self.parallel = server, parallel

    def decode(self, n: int, max_tokens: int, ignore_eos: bool = False) -> float:
        """Generated tokens/s of n story requests at once (`ignore_eos`: each runs to max_tokens)."""
        def one(i: int) -> int:
            r = self.server.handle_chat_completions({
                "messages": [{"role": "user", "content": STORY.format(i=i)}],
                "temperature": 1.0, "max_tokens": max_tokens, "seed": i,
                **({"ignore_eos": True} if ignore_eos else {})})
            return int(r["usage"]["completion_tokens"])

        tokens, seconds = timed(_pool_map, one, range(n), min(n, self.parallel))
        return sum(tokens) / seconds

    def prompts(self, requests: Sequence[GenerateRequest]) -> tuple[float, float]:
        def one(req: GenerateRequest) -> tuple[int, int]:
            msgs = [dict(m) for m in req.messages]
            if req.assistant_prefix:  # llama.cpp continues a trailing assistant message
                msgs.append({"role": "assistant", "content": req.assistant_prefix})
            r = self.server.handle_chat_completions({"messages": msgs, "max_tokens": 1, "temperature": 0.0,
                                                     "cache_prompt": False})
            return int(r["usage"]["prompt_tokens"]), int((r.get("timings") or {}).get("prompt_n", 0))

        counts, seconds = timed(_pool_map, one, requests, self.parallel)
        total = sum(c[0] for c in counts)
        return total / seconds, sum(c[1] for c in counts) / max(1, total)


# ---------------------------------------------------------------------------------------
# clearft's backend


class Clearft:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def decode(self, n: int, max_tokens: int) -> float:
        reqs = [GenerateRequest([{"role": "user", "content": STORY.format(i=i)}], temperature=1.0,
                                max_tokens=max_tokens, seed=i) for i in range(n)]
        done, seconds = timed(self.backend.generate, reqs)
        return sum(c.completion_tokens for c in done) / seconds

    def prompts(self, requests: Sequence[GenerateRequest]) -> tuple[float, float]:
        done, seconds = timed(self.backend.generate, list(requests))
        total = sum(c.prompt_tokens for c in done)
        cached = sum(getattr(c, "cached_prompt_tokens", 0) for c in done)
        return total / seconds, (total - cached) / max(1, total)


def measure(runner: Any, requests: Sequence[GenerateRequest], parallel: int, max_tokens: int) -> dict[str, float]:
    runner.decode(2, 8)  # warm up (first batches allocate)
    one = sum(runner.decode(1, max_tokens) for _ in range(3)) / 3
    many = sum(runner.decode(parallel, max_tokens) for _ in range(2)) / 2
    rate, evaluated = runner.prompts(requests)
    return {"decode1": one, "decodeN": many, "prompt": rate, "evaluated": evaluated}



def rates_table(first: str, results: Sequence[tuple[str, dict[str, float]]], parallel: int, ratio: str) -> str:
    """One row per measured configuration, with its rates as ratios to the first row's."""
    base = results[0][1]
    return markdown_table(
        [first, "decode tok/s, 1 seq", f"decode tok/s, {parallel} seq", "prompt tok/s (real prompts)",
         "share of prompt tokens evaluated", ratio],
        [[name, f"{r['decode1']:.1f}", f"{r['decodeN']:.1f}", f"{r['prompt']:.0f}", f"{r['evaluated']:.2f}",
          " / ".join(f"{r[k] / base[k]:.2f}" for k in ("decode1", "decodeN", "prompt"))] for name, r in results])


REPRODUCIBLE = {"kv_unified": False, "flash_attn_type": 0, "cont_batching": False}  # clearft's until session 9
# llama.cpp's own server with its defaults, with one of clearft's settings alone, or all of them.
# (kv_unified is already False in llama.cpp's defaults, so it has no row of its own.)
RAW_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {},
    "llama-noflash": {"flash_attn_type": 0},
    "llama-nocb": {"cont_batching": False},
    "llama-repro": REPRODUCIBLE,
}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=16, help="FPB rows whose BSDetector prompts are timed")
    p.add_argument("--preset", default="medium")
    p.add_argument("--parallel", type=int, default=16, help="slots (and sequences for the parallel decode)")
    p.add_argument("--threads", type=int, default=None, help="ggml threads (default: clearft's default_threads)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--configs", default="llama,llama-repro,clearft,clearft-fast",
                   help="which rows to run, in order (a name may repeat, to see the drift within a run): "
                        "llama (llama.cpp defaults), llama-noflash (llama.cpp defaults + flash attention off), "
                        "llama-nocb (llama.cpp defaults + continuous batching off), llama-repro (llama.cpp "
                        "with the three settings clearft's reproducible mode had until session 9; since then it "
                        "keeps only flash attention off, i.e. llama-noflash), clearft (the backend's defaults), "
                        "clearft-fast (reproducible=False)")
    args = p.parse_args()

    from clearft.backends.llamacpp import LlamaCppBackend, default_threads
    from clearft.models import default_gguf_path

    model = default_gguf_path()
    threads = args.threads or default_threads()
    requests = real_requests(args.rows, args.preset)
    names = args.configs.split(",")
    unknown = [n for n in names if n not in RAW_CONFIGS and n not in ("clearft", "clearft-fast")]
    if unknown:
        p.error(f"unknown configuration(s): {', '.join(unknown)}")
    results: list[tuple[str, dict[str, float]]] = []
    for name in names:
        if name in RAW_CONFIGS:
            server = raw_server(model, args.parallel, threads, RAW_CONFIGS[name])
            results.append((name, measure(Raw(server, args.parallel), requests, args.parallel, args.max_tokens)))
            del server
        else:
            backend = LlamaCppBackend(concurrency=args.parallel, threads=threads,
                                      reproducible=name != "clearft-fast", reuse_prompts=False)
            try:
                results.append((name, measure(Clearft(backend), requests, args.parallel, args.max_tokens)))
            finally:
                backend.close()

    print(f"model {model.name}; {args.parallel} slots, {threads} threads; prompts: {len(requests)} BSDetector "
          f"prompts of {args.rows} FPB rows (preset {args.preset}); decode: {args.max_tokens}-token samples\n")
    base = results[0][1]
    print(rates_table("configuration", results, args.parallel, "ratio to llama.cpp (1 seq / N seq / prompt)"))
    if len(set(names)) < len(names):
        # A configuration measured more than once in this run: the mean of its rows, against the
        # mean of the first configuration's rows.
        order = list(dict.fromkeys(names))
        mean = {n: {k: sum(r[k] for m, r in results if m == n) / names.count(n) for k in base} for n in order}
        ref = mean[names[0]]
        print(f"\nMean over repeats (ratio to the mean of {names[0]}):\n")
        print(markdown_table(
            ["configuration", "rows", "decode tok/s, 1 seq", f"decode tok/s, {args.parallel} seq", "prompt tok/s",
             "ratio (1 seq / N seq / prompt)"],
            [[n, names.count(n), f"{r['decode1']:.1f}", f"{r['decodeN']:.1f}", f"{r['prompt']:.0f}",
              " / ".join(f"{r[k] / ref[k]:.2f}" for k in ("decode1", "decodeN", "prompt"))] for n, r in mean.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
