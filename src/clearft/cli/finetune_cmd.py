"""`clearft finetune DATA -o MODEL_DIR`: LoRA fine-tuning (built in), an external trainer
(--command), or an OpenAI fine-tuning job (--openai-model).

Settings precedence: command-line flags > --config FILE (JSON) > defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from clearft.cli.common import (
    API_KEY_ENV_HELP,
    BASE_URL_HELP,
    SEED_HELP,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Ranged,
    UnitInterval,
    add_data_args,
    add_hidden_alias,
    add_no_progress_arg,
    data_options,
)

# flag name -> (FinetuneConfig field, type: str or a number's range, help); `run` takes some
# of them too (run_cmd.FINETUNE_FLAGS), with the same range and help.
HYPERPARAMETERS: list[tuple[str, str, Any, str]] = [
    ("--lora-r", "lora_r", PositiveInt, "LoRA rank (default 16)"),
    ("--lora-alpha", "lora_alpha", PositiveInt, "LoRA alpha (default 32)"),
    ("--lora-dropout", "lora_dropout", UnitInterval, "LoRA dropout (default 0.05)"),
    ("--target-modules", "target_modules", str,
     "'all-linear' (default) or comma-separated module names, e.g. q_proj,v_proj"),
    ("--learning-rate", "learning_rate", PositiveFloat, "default 1e-3 (small models; try 1e-4 for 1B+)"),
    ("--epochs", "epochs", PositiveFloat, "default 1"),
    ("--train-batch-size", "batch_size", PositiveInt, "training rows per device step (default 8)"),
    ("--grad-accum", "grad_accum", PositiveInt, "steps per optimizer update (default 2: effective batch 16)"),
    ("--max-seq-len", "max_seq_len", PositiveInt, "tokens per row, longer rows are cut (default 512)"),
    ("--seed", "seed", NonNegativeInt, SEED_HELP),
    ("--max-steps", "max_steps", PositiveInt, "stop after this many optimizer steps (default: epochs decide)"),
    ("--device", "device", str, "auto (default: cuda > mps > cpu), cpu, cuda, mps"),
    ("--warmup-ratio", "warmup_ratio", UnitInterval, "share of steps warming the learning rate up (default 0.03)"),
    ("--lr-scheduler", "lr_scheduler", str, "default linear"),
    ("--weight-decay", "weight_decay", NonNegativeFloat, "default 0"),
]
GRADIENT_CHECKPOINTING_HELP = "save memory (large models) at about a third more compute"
GROUP_BY_LENGTH_HELP = "batch rows of similar length: less padding, fewer tokens a step (a less random order)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a model on a dataset (LoRA, external command, or OpenAI jobs)")
    p.add_argument("data", help="training data (any format clearft reads)")
    p.add_argument("-o", "--output", required=True,
                   help="model folder to write (merged model + adapter/); a finished one is reused")
    p.add_argument("--model", default=None,
                   help="the model to fine-tune (the model being curated, as --model in every command): a "
                        ".gguf file or a Hugging Face model folder; default: the embedded "
                        "SmolLM2-135M-Instruct. A hosted model: --openai-model")
    add_hidden_alias(p, "--base-model", "model", default=argparse.SUPPRESS)  # the old name
    p.add_argument("--config", default=None, help="JSON file of fine-tuning settings (flags override it)")
    g = p.add_argument_group("hyperparameters (built-in LoRA trainer)")
    for flag, _field, typ, text in HYPERPARAMETERS:
        add_hyperparameter(g, flag, typ, text)
    # --batch-size: the old name of --train-batch-size (elsewhere it is rows per model call)
    add_hidden_alias(g, "--batch-size", "train_batch_size", action=PositiveInt, default=None)
    g.add_argument("--gradient-checkpointing", action="store_true", help=GRADIENT_CHECKPOINTING_HELP)
    g.add_argument("--group-by-length", action="store_true", help=GROUP_BY_LENGTH_HELP)
    g.add_argument("--no-merge", action="store_true", help="save only the LoRA adapter")
    g.add_argument("--gguf", choices=["q8_0", "f16", "f32", "none"], default=None,
                   help="GGUF copy for llama.cpp when the base is a GGUF (default q8_0; none to skip)")
    add_no_progress_arg(g)
    add_hidden_alias(g, "--quiet", "no_progress", action="store_true")  # the old name
    e = p.add_argument_group("other trainers")
    # dest must not be "command": that is where argparse records which subcommand ran.
    e.add_argument("--command", dest="trainer_command", default=None,
                   help="run your own trainer instead, e.g. \"mytrain --data {data} --out {output}\"; "
                        "DATA is passed as is")
    e.add_argument("--openai-model", default=None,
                   help="fine-tune this hosted model through the OpenAI fine-tuning jobs API instead")
    e.add_argument("--base-url", default=None, help=BASE_URL_HELP)
    e.add_argument("--api-key-env", default=None, help=API_KEY_ENV_HELP)
    add_data_args(p)
    p.set_defaults(func=run)


def add_hyperparameter(g: Any, flag: str, typ: Any, text: str) -> None:
    """One fine-tuning flag: a number with its range, or text; default None (not given). Its
    dest is the flag's name (train_batch_size), in finetune and run alike."""
    kind = {"action": typ} if isinstance(typ, type) and issubclass(typ, Ranged) else {"type": typ}
    g.add_argument(flag, default=None, help=text, **kind)


def hyperparameter_values(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """FinetuneConfig field -> value of every HYPERPARAMETERS flag (but `skip`) given."""
    values = {}
    for flag, field, _typ, _text in HYPERPARAMETERS:
        value = None if flag in skip else getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            values[field] = value
    return values


def split_target_modules(values: dict[str, Any]) -> None:
    """--target-modules q_proj,v_proj as the list FinetuneConfig takes ('all-linear' stays)."""
    if isinstance(values.get("target_modules"), str) and values["target_modules"] != "all-linear":
        values["target_modules"] = [m.strip() for m in values["target_modules"].split(",") if m.strip()]


def _read_config(path: str) -> dict[str, Any]:
    from clearft.errors import ClearftError

    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ClearftError(f"--config {path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise ClearftError(f"--config {path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(values, dict):
        raise ClearftError(f"--config {path}: the file must hold a JSON object of settings")
    return values


def build_config(args: argparse.Namespace) -> Any:
    """FinetuneConfig from --config (JSON) overlaid with the flags that were given."""
    from clearft.training import FinetuneConfig

    values: dict[str, Any] = {}
    if args.config:
        values.update(_read_config(args.config))
    values.update(hyperparameter_values(args))
    split_target_modules(values)
    if args.gradient_checkpointing:
        values["gradient_checkpointing"] = True
    if args.group_by_length:
        values["group_by_length"] = True
    if args.gguf:
        values["gguf"] = None if args.gguf == "none" else args.gguf
    if args.no_merge:
        values["merge"] = False
    if args.no_progress:
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
                                   api_key_env=args.api_key_env or "OPENAI_API_KEY", data_options=options)
        print(f"fine-tuned model: {model_id}  (use it with --backend openai --model {model_id})")
        return 0
    from clearft.training import finetune

    config = build_config(args)
    if args.model is not None:
        from clearft.training.base_model import check_base_model

        check_base_model(args.model, "--model")  # one line naming the flag, before anything loads
    out = finetune(args.data, args.output, config, base_model=args.model, data_options=options)
    meta_path = Path(args.output) / "clearft-finetune.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        print(f"fine-tuned {meta.get('n_examples')} rows, {meta.get('steps')} steps on "
              f"{meta.get('device')}, loss {meta.get('first_loss')} -> {meta.get('last_loss')}")
    print(f"model: {out}  (evaluate it with: clearft eval {out} --test TEST)")
    return 0
