"""Seconds per LoRA training step and peak memory of the built-in fine-tune on this machine.

Rows are real FPB sentences (../shared/data/robustft/fpb) joined into prompts of about 256
tokens after the chat template, so a step is batch_size x 256 tokens. Each variant runs in its
own child process (peak RSS of one run cannot pollute another); the first step (warm-up,
allocations) is left out of the per-step time.

    python bench/finetune_speed.py --steps 4 --batch 8 --tokens 256
    python bench/finetune_speed.py --steps 6 --batch 8 --data examples/data/banking77_noisy.jsonl --only default,prefix

With --data, the rows are that dataset's first steps x batch rows as they are (the main job's
BANKING77 rows: a template and an intent list every row shares, then the query).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FPB = ROOT.parent / "shared" / "data" / "robustft" / "fpb" / "noisy" / "noisy30.csv"

# "trl_loss": TRL's own fused LM head, which off CUDA projects every position through the
# vocabulary (clearft's trainer projects only the target's tokens: training/completion_loss.py)
VARIANTS = {
    "default (r=16, all linear)": {},
    "no shared prefix (every row runs its whole prompt)": {"share_prefix": False},
    "TRL's loss (head on every position)": {"trl_loss": True},
    "lora_dropout 0": {"lora_dropout": 0.0},
    "r=16, q_proj+v_proj only": {"target_modules": ["q_proj", "v_proj"]},
    "r=16, all linear, grad checkpointing": {"gradient_checkpointing": True},
}


def make_rows(n: int, tokens: int) -> list[dict[str, str]]:
    """n rows whose chat-templated prompt+answer is about `tokens` tokens long."""
    from transformers import AutoTokenizer

    from clearft.data import open_dataset
    from clearft.training import ensure_base_model

    tok = AutoTokenizer.from_pretrained(ensure_base_model())
    sentences = [ex.messages[0]["content"].split("\n")[1] for ex in open_dataset(FPB)]
    rows, i = [], 0
    for _ in range(n):
        text = "Please judge the overall sentiment of these sentences:"
        while True:
            msgs = [{"role": "user", "content": text + "\n" + sentences[i % len(sentences)]},
                    {"role": "assistant", "content": "neutral"}]
            ids = tok.apply_chat_template(msgs, tokenize=True)
            length = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
            if length > tokens:
                break
            text += "\n" + sentences[i % len(sentences)]
            i += 1
        rows.append({"prompt": text, "response": "neutral"})
    return rows


def child(args: argparse.Namespace) -> None:
    """One variant: fine-tune for a few steps, print a JSON line of timings."""
    from clearft.data.example import Example
    from clearft.training import FinetuneConfig, finetune

    rows = json.loads(Path(args.rows).read_text())
    examples = [Example(id=str(i), messages=[{"role": "user", "content": r["prompt"]}],
                        response=r["response"]) for i, r in enumerate(rows)]
    overrides = json.loads(args.variant)
    if overrides.pop("trl_loss", False):
        from clearft.training import completion_loss

        completion_loss.trainer_class = lambda base, *_: base
    cfg = FinetuneConfig(max_steps=args.steps, batch_size=args.batch, grad_accum=1,
                         max_seq_len=args.tokens + 16, progress=False, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        out = finetune(examples, Path(tmp) / "m", cfg)
        total = time.monotonic() - started
        log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    stamps = [r["seconds"] for r in log if "loss" in r]
    per_step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else stamps[0]
    tokens = [r.get("num_tokens") for r in log if "num_tokens" in r]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"per_step": per_step, "first_step": stamps[0], "total": total,
                      "peak_gib": peak_gib,
                      "tokens_per_step": (tokens[-1] / len(tokens)) if tokens else None}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--only", default=None, help="run only variants whose name contains one of these comma-separated words")
    p.add_argument("--data", default=None, help="train on this dataset's rows instead of FPB prompts of --tokens")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rows", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.json"
        n = args.batch * args.steps
        if args.data:
            from clearft.data import open_dataset

            data = itertools.islice(open_dataset(Path(args.data)), n)
            rows = [{"prompt": ex.messages[-1]["content"], "response": ex.response} for ex in data]
        else:
            rows = make_rows(n, args.tokens)
        rows_path.write_text(json.dumps(rows))
        results = []
        for name, overrides in VARIANTS.items():
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            proc = subprocess.run(
                [sys.executable, __file__, "--child", "--rows", str(rows_path), "--variant",
                 json.dumps(overrides), "--steps", str(args.steps), "--batch", str(args.batch),
                 "--tokens", str(args.tokens)],
                capture_output=True, text=True, check=True)
            results.append((name, json.loads(proc.stdout.strip().splitlines()[-1])))
    what = args.data or f"~{args.tokens} tokens"
    print(f"LoRA fine-tune of SmolLM2-135M-Instruct, batch {args.batch} x {what}, "
          f"{args.steps} steps (first step left out)\n")
    print("| variant | s / step | first step s | tokens / step | total s (incl. load, merge, save) "
          "| peak RSS GiB |")
    print("|---|---|---|---|---|---|")
    for name, d in results:
        print(f"| {name} | {d['per_step']:.1f} | {d['first_step']:.1f} | {d['tokens_per_step']:.0f} "
              f"| {d['total']:.0f} | {d['peak_gib']:.2f} |")


if __name__ == "__main__":
    main()
