"""Built-in fine-tuning: LoRA through TRL's SFTTrainer and PEFT, loss on the target only.

Layout of a finished model folder (OUT):

    OUT/config.json, model.safetensors, tokenizer*   the merged model (any backend loads it)
    OUT/model.gguf                                   the same, for llama.cpp (GGUF bases only)
    OUT/adapter/                                     the LoRA adapter alone
    OUT/train_log.jsonl                              one line per logged step (loss, lr, epoch)
    OUT/clearft-finetune.json                        settings, data and base identity, summary
    OUT/DONE                                         written last: the folder is complete

Work happens in a sibling folder ``.OUT.partial`` (with periodic checkpoints, so a killed
run continues from its last checkpoint) that is renamed to OUT only when complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.deps import require
from clearft.errors import ClearftError
from clearft.training.config import FinetuneConfig

DONE_MARKER = "DONE"
META_FILE = "clearft-finetune.json"
LOG_FILE = "train_log.jsonl"


# ---------------------------------------------------------------- pure parts


def example_to_row(example: Example) -> dict[str, Any]:
    """TRL conversational prompt/completion: the loss covers the completion tokens only."""
    return {
        "prompt": [dict(m) for m in example.messages],
        "completion": [{"role": "assistant", "content": example.response}],
    }


def rows_fingerprint(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def run_fingerprint(config: FinetuneConfig, data_hash: str, base_identity: str) -> str:
    blob = json.dumps(
        {"config": config.fingerprint_dict(), "data": data_hash, "base": base_identity},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_finished(out_dir: str | Path) -> bool:
    return (Path(out_dir) / DONE_MARKER).is_file()


def is_finetune_output(model: str | Path) -> bool:
    """A model this module wrote: its folder (with META_FILE or adapter/), the adapter/ in
    it, or the model.gguf beside its merged weights. Cheap: nothing is read or loaded."""
    path = Path(model).expanduser()
    if path.is_file():
        return path.suffix == ".gguf" and is_finetune_output(path.parent)
    return path.is_dir() and ((path / META_FILE).is_file() or (path / "adapter").is_dir()
                              or (path.name == "adapter" and (path.parent / META_FILE).is_file()))


def load_examples(data: str | Path | Iterable[Example], data_options: DataOptions | None = None) -> list[Example]:
    """Examples from a list, or from a file read by clearft.data with `data_options`."""
    if isinstance(data, (str, Path)):
        return list((data_options or DataOptions()).open(data))
    return list(data)


# ---------------------------------------------------------------- device


def resolve_device(device: str) -> str:
    """'auto' -> cuda if present, else mps, else cpu; anything else is checked and returned."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ClearftError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return device


# ---------------------------------------------------------------- training


def finetune(
    data: str | Path | Iterable[Example],
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
    base_model: str | Path | None = None,
    data_options: DataOptions | None = None,
) -> Path:
    """Fine-tune `base_model` (default: the embedded model) on `data`; return the model folder.

    Returns OUT (the merged model) or OUT/adapter when ``config.merge`` is False. Resumable: a
    folder that already holds a finished model for the same settings, data and base is
    returned at once; a finished model for *different* ones is an error, never silently reused.
    """
    from clearft.deps import require
    from clearft.training.base_model import ensure_base_model

    config = config or FinetuneConfig()
    out = Path(out_dir)
    examples = load_examples(data, data_options)
    if not examples:
        raise ClearftError("no training examples: the data is empty")
    rows = [example_to_row(ex) for ex in examples]
    base_dir = ensure_base_model(base_model)
    fingerprint = run_fingerprint(config, rows_fingerprint(rows), _dir_identity(base_dir))

    if is_finished(out):
        return _check_finished(out, fingerprint, config)
    if out.exists() and any(out.iterdir()):
        raise ClearftError(
            f"{out} exists and is not a finished clearft model; choose another folder or delete it"
        )

    for module in ("torch", "transformers", "peft", "trl", "datasets"):
        require(module, "fine-tuning")
    partial = out.parent / f".{out.name}.partial"
    _reset_partial_if_stale(partial, fingerprint)
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "fingerprint").write_text(fingerprint)

    started = time.time()
    summary = _train(rows, base_dir, partial, config)
    summary["gguf"] = _maybe_export_gguf(base_dir, partial, config)
    meta = {
        "fingerprint": fingerprint,
        "base_model": str(base_dir),
        "base_model_arg": None if base_model is None else str(base_model),
        "n_examples": len(rows),
        "config": config.to_dict(),
        "seconds": round(time.time() - started, 1),
        **summary,
    }
    (partial / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    (partial / "fingerprint").unlink(missing_ok=True)
    (partial / DONE_MARKER).write_text(fingerprint + "\n")
    if out.exists():
        out.rmdir()  # empty, checked above
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, out)
    return out if config.merge else out / "adapter"


def _dir_identity(path: Path) -> str:
    """Identity of a model folder: its path plus the size and mtime of its weight files."""
    parts = [str(path.resolve())]
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _check_finished(out: Path, fingerprint: str, config: FinetuneConfig) -> Path:
    meta = json.loads((out / META_FILE).read_text()) if (out / META_FILE).is_file() else {}
    if meta.get("fingerprint") != fingerprint:
        raise ClearftError(
            f"{out} already holds a fine-tuned model made from other data, settings or base model; "
            "choose another output folder or delete it"
        )
    if config.merge and not (out / "config.json").is_file():
        raise ClearftError(f"{out} holds only an adapter; rerun with merging into a new folder")
    return out if config.merge else out / "adapter"


def _reset_partial_if_stale(partial: Path, fingerprint: str) -> None:
    """Keep a partial run's checkpoints only if they belong to the same settings and data."""
    if not partial.exists():
        return
    marker = partial / "fingerprint"
    if not marker.is_file() or marker.read_text().strip() != fingerprint:
        shutil.rmtree(partial)


def _train(
    rows: list[dict[str, Any]], base_dir: Path, work: Path, config: FinetuneConfig
) -> dict[str, Any]:
    import datasets
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from clearft.training import completion_loss
    from clearft.training.progress import make_progress_callback

    transformers = require("transformers", "fine-tuning")  # through require: quiet under the CLI
    device = resolve_device(config.device)
    transformers.set_seed(config.seed)
    use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if use_bf16 else torch.float32
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    if device != "cpu":
        model.to(device)

    checkpoints = work / "checkpoints"
    n_per_epoch = -(-len(rows) // (config.batch_size * config.grad_accum))
    save_every = max(10, n_per_epoch // 4)
    settings: dict[str, Any] = dict(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        seed=config.seed,
        data_seed=config.seed,
        max_length=config.max_seq_len,
        completion_only_loss=True,
        packing=False,
        report_to="none",
        save_strategy="steps",
        save_steps=save_every,
        save_total_limit=1,
        use_cpu=device == "cpu",
        bf16=use_bf16,
        fp16=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    # transformers renamed the option (5.17 knows only the old name; the newer ones warn on it)
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    settings[checkpointing] = config.gradient_checkpointing
    if config.group_by_length:  # a sampler choice in newer transformers, a flag in older ones
        if "train_sampling_strategy" in names:
            settings["train_sampling_strategy"] = "group_by_length"
        else:
            settings["group_by_length"] = True
    settings.update(config.extra)  # anything else SFTConfig takes, and overrides of the above
    args = SFTConfig(**settings)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        task_type="CAUSAL_LM",
    )
    # TRL scores only the trained positions where Triton runs (CUDA); elsewhere, every one
    trainer_cls = (SFTTrainer if device.startswith("cuda")
                   else completion_loss.trainer_class(SFTTrainer, config.share_prefix))
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.ProgressCallback)
    log_path = work / LOG_FILE
    trainer.add_callback(make_progress_callback(log_path, show=config.progress))
    resume = any(checkpoints.glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if resume else None)

    trained: Any = trainer.model
    trained.save_pretrained(work / "adapter")
    tokenizer.save_pretrained(work / "adapter")
    if config.merge:
        merged = trained.merge_and_unload()
        merged.save_pretrained(work)
        tokenizer.save_pretrained(work)
    losses = [r["loss"] for r in _read_log(log_path) if "loss" in r]
    return {
        "device": device,
        "steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "resumed_from_checkpoint": resume,
    }


def _maybe_export_gguf(base_dir: Path, work: Path, config: FinetuneConfig) -> str | None:
    """Write work/model.gguf when the base came from a GGUF (its metadata is the template)."""
    from clearft.training.base_model import BASE_MARKER
    from clearft.training.gguf_export import export_gguf

    marker = base_dir / BASE_MARKER
    if not (config.merge and config.gguf and marker.is_file()):
        return None
    source = Path(json.loads(marker.read_text()).get("source_gguf", ""))
    if not source.is_file():
        return None
    try:
        export_gguf(work, source, work / "model.gguf", out_type=config.gguf)
    except ClearftError as exc:  # e.g. not a llama model: the transformers backend serves it
        print(f"clearft finetune: no GGUF written ({exc})")
        return None
    return "model.gguf"


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
