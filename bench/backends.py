"""Generated tokens per second of each backend with the default model, at 1 and 16
concurrent sequences. Prints a markdown table.

    python bench/backends.py [--max-tokens 32] [--backends llamacpp,openai,transformers]

* llamacpp: in-process llama.cpp, `concurrency` slots decoding together;
* openai: the same model behind `python -m clearft.backends.llamacpp_server` on loopback
  (16 slots), with 1 or 16 concurrent HTTP requests;
* transformers: the GGUF de-quantized to float32 torch; greedy requests decoded in one
  left-padded batch of `concurrency`.

Greedy decoding (temperature 0), no cache. "1 sequence" runs 4 prompts one after another;
"16 sequences" runs 16 prompts at once. Tokens are those the backend reports generating.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from clearft.backends.base import Backend, GenerateRequest  # noqa: E402

TOPICS = ["rivers", "volcanoes", "bees", "glass", "comets", "salt", "owls", "copper",
          "tides", "paper", "moss", "wind", "clocks", "bread", "lightning", "whales"]


def requests(count: int, max_tokens: int) -> list[GenerateRequest]:
    return [
        GenerateRequest([{"role": "user", "content": f"Write a few sentences about {t}."}],
                        max_tokens=max_tokens, temperature=0.0)
        for t in TOPICS[:count]
    ]


def tokens_per_second(backend: Backend, reqs: list[GenerateRequest]) -> tuple[float, int]:
    start = time.perf_counter()
    out = backend.generate(reqs)
    wall = time.perf_counter() - start
    bad = [c.error for c in out if not c.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} requests failed: {bad[0]}")
    tokens = sum(c.completion_tokens for c in out)
    return tokens / wall, tokens


def measure(make: Callable[[int], Backend], max_tokens: int) -> dict[int, tuple[float, int]]:
    result = {}
    for concurrency, count in [(1, 4), (16, 16)]:
        backend = make(concurrency)
        try:
            backend.generate(requests(1, 4))  # warm up (first-call allocations)
            result[concurrency] = tokens_per_second(backend, requests(count, max_tokens))
        finally:
            backend.close()
    return result


def loopback_server(port: int) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "clearft.backends.llamacpp_server", "--port", str(port), "--parallel", "16"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("loopback server did not start")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--backends", default="llamacpp,openai,transformers")
    p.add_argument("--port", type=int, default=18765)
    args = p.parse_args()
    rows = []
    for name in args.backends.split(","):
        if name == "llamacpp":
            from clearft.backends.llamacpp import LlamaCppBackend

            res = measure(lambda c: LlamaCppBackend(concurrency=c, reuse_prompts=False), args.max_tokens)
        elif name == "openai":
            from clearft.backends.openai_backend import OpenAIBackend

            server = loopback_server(args.port)
            try:
                res = measure(lambda c: OpenAIBackend(base_url=f"http://127.0.0.1:{args.port}/v1",
                                                      model="smollm2", concurrency=c), args.max_tokens)
            finally:
                server.kill()
                server.wait()
        elif name == "transformers":
            from clearft.backends.transformers_backend import TransformersBackend

            res = measure(lambda c: TransformersBackend(batch_size=c), args.max_tokens)
        else:
            raise SystemExit(f"unknown backend {name}")
        rows.append((name, res))
        print(f"# {name}: {res}", file=sys.stderr, flush=True)

    print("| backend | tok/s, 1 sequence | tok/s, 16 sequences | speed-up |")
    print("|---|---:|---:|---:|")
    for name, res in rows:
        one, many = res[1][0], res[16][0]
        print(f"| {name} | {one:.1f} | {many:.1f} | {many / one:.2f}x |")


if __name__ == "__main__":
    main()
