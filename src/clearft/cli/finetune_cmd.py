"""`clearft finetune DATA -o MODEL_DIR`: LoRA fine-tuning (built in), an external trainer
(--command), or an OpenAI fine-tuning job (--openai-model).

Settings precedence: command-line flags > --config FILE (JSON) > defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from clearft.cli.common import add_data_args, data_options

# flag name -> (FinetuneConfig field, type, help)
HYPERPARAMETERS: list[tuple[str, str, Any, str]] = [
    ("--lora-r", "lora_r", int, "LoRA rank (default 16)"),
    ("--lora-alpha", "lora_alpha", int, "LoRA alpha (default 32)"),
    ("--lora-dropout", "lora_dropout", float, "LoRA dropout (default 0.05)"),
    ("--target-modules", "target_modules", str,
     "'all-linear' (default) or comma-separated module names, e.g. q_proj,v_proj"),
    ("--learning-rate", "learning_rate", float, "default 1e-3 (small models; try 1e-4 for 1B+)"),
    ("--epochs", "epochs", float, "default 1"),
    ("--batch-size", "batch_size", int, "rows per device step (default 8)"),
    ("--grad-accum", "grad_accum", int, "steps per optimizer update (default 2: effective batch 16)"),
    ("--max-seq-len", "max_seq_len", int, "tokens per row, longer rows are cut (default 512)"),
    ("--seed", "seed", int, "default 0; same seed + same data -> same adapter"),
    ("--max-steps", "max_steps", int, "stop after this many optimizer steps (default: epochs decide)"),
    ("--device", "device", str, "auto (default: cuda > mps > cpu), cpu, cuda, mps"),
    ("--warmup-ratio", "warmup_ratio", float, "share of steps warming the learning rate up (default 0.03)"),
    ("--lr-scheduler", "lr_scheduler", str, "default linear"),
    ("--weight-decay", "weight_decay", float, "default 0"),
]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a model on a dataset (LoRA, external command, or OpenAI jobs)")
    p.add_argument("data", help="training data (any format clearft reads)")
    p.add_argument("-o", "--output", required=True,
                   help="model folder to write (merged model + adapter/); a finished one is reused")
    p.add_argument("--base-model", default=None,
                   help="'default' (the embedded SmolLM2-135M-Instruct), a .gguf file or a Hugging Face model folder")
    p.add_argument("--config", default=None, help="JSON file of fine-tuning settings (flags override it)")
    g = p.add_argument_group("hyperparameters (built-in LoRA trainer)")
    for flag, _field, typ, text in HYPERPARAMETERS:
        g.add_argument(flag, type=typ, default=None, help=text)
    g.add_argument("--gradient-checkpointing", action="store_true",
                   help="save memory (large models) at about a third more compute")
    g.add_argument("--no-merge", action="store_true", help="save only the LoRA adapter")
    g.add_argument("--gguf", choices=["q8_0", "f16", "f32", "none"], default=None,
                   help="GGUF copy for llama.cpp when the base is a GGUF (default q8_0; none to skip)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    e = p.add_argument_group("other trainers")
    # dest must not be "command": that is where argparse records which subcommand ran.
    e.add_argument("--command", dest="trainer_command", default=None,
                   help="run your own trainer instead, e.g. \"mytrain --data {data} --out {output}\"; "
                        "DATA is passed as is")
    e.add_argument("--openai-model", default=None,
                   help="fine-tune this hosted model through the OpenAI fine-tuning jobs API instead")
    e.add_argument("--base-url", default=None, help="OpenAI-compatible API URL (default: the OpenAI API)")
    e.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    add_data_args(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> Any:
    """FinetuneConfig from --config (JSON) overlaid with the flags that were given."""
    from clearft.training import FinetuneConfig

    values: dict[str, Any] = {}
    if args.config:
        values.update(json.loads(Path(args.config).read_text()))
    for _flag, name, _typ, _text in HYPERPARAMETERS:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if isinstance(values.get("target_modules"), str) and values["target_modules"] != "all-linear":
        values["target_modules"] = [m.strip() for m in values["target_modules"].split(",") if m.strip()]
    if args.gradient_checkpointing:
        values["gradient_checkpointing"] = True
    if args.gguf:
        values["gguf"] = None if args.gguf == "none" else args.gguf
    if args.no_merge:
        values["merge"] = False
    if args.quiet:
        values["progress"] = False
    return FinetuneConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    options = data_options(args)
    if args.trainer_command:
        from clearft.training import finetune_external

        out = finetune_external(args.trainer_command, args.data, args.output)
        print(f"model written by your trainer: {out}")
        return 0
    if args.openai_model:
        from clearft.training.openai_jobs import finetune_openai

        model_id = finetune_openai(args.data, args.openai_model, args.output, base_url=args.base_url,
                                   api_key_env=args.api_key_env, **options)
        print(f"fine-tuned model: {model_id}  (use it with --backend openai --model {model_id})")
        return 0
    from clearft.training import finetune

    config = build_config(args)
    out = finetune(args.data, args.output, config, base_model=args.base_model, **options)
    meta_path = Path(args.output) / "clearft-finetune.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        print(f"fine-tuned {meta.get('n_examples')} rows, {meta.get('steps')} steps on "
              f"{meta.get('device')}, loss {meta.get('first_loss')} -> {meta.get('last_loss')}")
    print(f"model: {out}  (evaluate it with: clearft eval {out} --test TEST)")
    return 0
