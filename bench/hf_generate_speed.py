"""The yardstick for the transformers backend on a GPU: plain `model.generate` on the same model
and prompts, no clearft code, batched the way a user writing it by hand would.

    python bench/hf_generate_speed.py examples/data/banking77_noisy.jsonl --model M.gguf \
        --rows 256 --batch-sizes 1,64 --max-new-tokens 64

Prints one JSON line per batch size: generated tokens/s (tokens up to each row's end of text)
and prompt tokens/s of one forward pass over the same padded batches. With `--clearft-samples K`
it then times clearft's TransformersBackend on the same prompts as sampled requests (n=K,
temperature 1) at each batch size: batch size 1 is how it decoded every sample before
samples shared batches.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="JSONL with a 'prompt' field")
    parser.add_argument("--model", type=Path, required=True, help="a .gguf file")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clearft-samples", type=int, default=0, help="also time clearft's backend, n=K")
    parser.add_argument("--clearft-rows", type=int, default=0, help="rows for that (default: --rows)")
    args = parser.parse_args()

    import torch
    import transformers

    load = {"gguf_file": args.model.name, "local_files_only": True}
    tok = transformers.AutoTokenizer.from_pretrained(str(args.model.parent), **load)
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    model = transformers.AutoModelForCausalLM.from_pretrained(str(args.model.parent), dtype=dtype, **load)
    model = model.to(args.device).eval()
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()][: args.rows]
    prompts = [tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                       add_generation_prompt=True) for r in rows]
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        n_rows = len(prompts) if batch_size > 1 else min(len(prompts), 16)
        generated = prompt_tokens = 0
        gen_s = fwd_s = 0.0
        for start in range(0, n_rows, batch_size):
            batch = tok(prompts[start:min(start + batch_size, n_rows)], return_tensors="pt", padding=True).to(args.device)
            prompt_tokens += int(batch["attention_mask"].sum())
            sync(torch, args.device)
            t0 = time.perf_counter()
            with torch.no_grad():
                model(**batch)
            sync(torch, args.device)
            fwd_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=args.max_new_tokens, do_sample=True,
                                     temperature=1.0, pad_token_id=tok.pad_token_id)
            sync(torch, args.device)
            gen_s += time.perf_counter() - t0
            new = out[:, batch["input_ids"].shape[1]:]
            for seq in new.tolist():
                generated += next((i + 1 for i, t in enumerate(seq) if t == tok.eos_token_id), len(seq))
        print(json.dumps({"yardstick": "plain model.generate", "device": args.device, "batch_size": batch_size,
                          "rows": n_rows, "generated_tokens": generated, "generate_s": round(gen_s, 2),
                          "generated_tokens_per_s": round(generated / gen_s, 1),
                          "prompt_tokens": prompt_tokens, "prompt_tokens_per_s": round(prompt_tokens / fwd_s, 1)}))

    if args.clearft_samples:
        time_clearft(args, rows[: args.clearft_rows or len(rows)])


def time_clearft(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    from clearft.backends.base import GenerateRequest
    from clearft.backends.transformers_backend import TransformersBackend

    reqs = [GenerateRequest([{"role": "user", "content": str(r["prompt"])}], n=args.clearft_samples,
                            temperature=1.0, max_tokens=args.max_new_tokens, seed=i) for i, r in enumerate(rows)]
    backend = TransformersBackend(args.model, device=args.device)
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        backend.batch_size = batch_size
        todo = reqs if batch_size > 1 else reqs[: max(1, 16 // args.clearft_samples)]
        t0 = time.perf_counter()
        done = backend.generate(todo)
        seconds = time.perf_counter() - t0
        generated = sum(c.completion_tokens for c in done)
        print(json.dumps({"clearft": "TransformersBackend.generate, sampled", "device": args.device,
                          "batch_size": batch_size, "requests": len(todo), "n": args.clearft_samples,
                          "errors": sum(1 for c in done if c.error), "generated_tokens": generated,
                          "seconds": round(seconds, 2), "generated_tokens_per_s": round(generated / seconds, 1)}))


def sync(torch: object, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
