"""The model a fine-tune starts from, as a plain Hugging Face folder.

transformers loads a GGUF file (``gguf_file=``) by de-quantising it, but refuses to train or
save the model it loaded that way. So the embedded default (or any GGUF) is rebuilt once as
plain weights: a fresh model from its config, the de-quantised weights copied in, saved with
its tokenizer. The copy is cached per GGUF identity under the user cache dir and written
atomically (a temp folder renamed into place), so a killed rebuild never leaves half a model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from clearft.errors import ClearftError

BASE_MARKER = "clearft-base.json"


def cache_root() -> Path:
    """clearft's user cache: $CLEARFT_CACHE_DIR, else $XDG_CACHE_HOME/clearft, else ~/.cache/clearft."""
    if os.environ.get("CLEARFT_CACHE_DIR"):
        return Path(os.environ["CLEARFT_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "clearft"


def is_hf_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (
        any(path.glob("*.safetensors")) or any(path.glob("*.bin"))
    )


# Backends whose --model is a local file or folder clearft's trainer can start from; the
# others (openai: a model behind an API or a server) name nothing to fine-tune here.
LOCAL_MODEL_BACKENDS = ("llamacpp", "transformers", "vllm", "fake")


# What `run` (and `finetune`) offer instead of fine-tuning an API model.
API_MODEL_REMEDY = ("give --base-model (a GGUF file or Hugging Face folder) to fine-tune a local model "
                    "instead, or --finetune-command for your own trainer")


def finetune_base(backend: str | None, model: str | None, base_model: str | None = None,
                  remedy: str = API_MODEL_REMEDY) -> str | None:
    """The model a fine-tune starts from: `base_model` when given (the explicit choice of
    another base), else the model being curated (`--backend`/`--model`), so that the model
    that scores, judges and is fine-tuned is one model. None: the embedded default.

    Raises a one-line ClearftError, before anything runs, when that model cannot be
    fine-tuned here (an API model; `remedy` says what to do instead, in the flags of the
    command that asked), or is no GGUF file or Hugging Face folder."""
    if base_model:
        check_base_model(base_model, "--base-model")
        return base_model
    if backend not in (None, *LOCAL_MODEL_BACKENDS):
        name = f" '{model}'" if model else ""
        raise ClearftError(
            f"--backend {backend}: the model{name} is served behind an API and cannot be fine-tuned "
            f"here; {remedy}"
        )
    if not model or backend == "fake":
        return None
    check_base_model(model, "--model")
    return model


def check_base_model(model: str | Path, flag: str) -> None:
    """A base a fine-tune can start from: 'default', a .gguf file or a Hugging Face model
    folder; a one-line error naming `flag` otherwise (cheap: nothing is loaded)."""
    if str(model) == "default":
        return
    path = Path(model).expanduser()
    if path.is_dir():
        if not is_hf_model_dir(path):
            raise ClearftError(f"{flag} {model}: not a Hugging Face model folder (it needs config.json "
                               "and *.safetensors or *.bin weights), so it cannot be fine-tuned")
        return
    if not path.is_file():
        raise ClearftError(f"{flag} {model}: no such file or folder, so there is no model to fine-tune")
    if path.suffix != ".gguf":
        raise ClearftError(f"{flag} {model}: fine-tuning starts from a .gguf file or a Hugging Face "
                           "model folder")


def ensure_base_model(model: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """A Hugging Face model folder for `model`, rebuilding a GGUF once if needed.

    `model`: None or "default" (the embedded SmolLM2-135M-Instruct GGUF), a .gguf file, or a
    Hugging Face model folder (returned as it is). Returns the folder to train from.
    """
    from clearft.models import default_gguf_path, file_identity

    if model is None or str(model) == "default":
        gguf = default_gguf_path()
    else:
        path = Path(model).expanduser()
        if path.is_dir():
            if not is_hf_model_dir(path):
                raise ClearftError(
                    f"{path} is not a Hugging Face model folder (it needs config.json and "
                    "*.safetensors or *.bin weights)"
                )
            return path
        if not path.is_file() or path.suffix != ".gguf":
            raise ClearftError(
                f"base model {model!r}: expected 'default', a .gguf file or a Hugging Face model folder"
            )
        gguf = path
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "base"
    target = root / file_identity(gguf)
    marker = target / BASE_MARKER
    if marker.is_file():
        # The folder is keyed by the GGUF's content, so a copy of an earlier file (since
        # deleted) finds it too; the GGUF export after a fine-tune reads the marker's source.
        recorded = json.loads(marker.read_text())
        if not Path(recorded.get("source_gguf", "")).is_file():
            fresh = marker.with_name(f".{BASE_MARKER}.{os.getpid()}")
            fresh.write_text(json.dumps({**recorded, "source_gguf": str(gguf.resolve())}))
            os.replace(fresh, marker)
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        rebuild_from_gguf(gguf, tmp)
        (tmp / BASE_MARKER).write_text(json.dumps({"source_gguf": str(gguf), "identity": target.name}))
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same rebuild first; theirs is as good as ours.
            if not (target / BASE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def rebuild_from_gguf(gguf: Path, out_dir: Path) -> None:
    """Save a GGUF model as plain (de-quantised, float32) Hugging Face weights + tokenizer."""
    from clearft.deps import require

    require("gguf", "reading GGUF weights into transformers")
    transformers = require("transformers", "fine-tuning")
    loaded = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    # The loaded config still says "quantized as GGUF"; a plain copy must not.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = transformers.AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings show up as "missing" but are shared with the input embeddings.
    real_missing = [k for k in missing if "lm_head" not in k or not config.tie_word_embeddings]
    if real_missing or unexpected:
        raise ClearftError(
            f"rebuilding {gguf.name} as plain weights failed: missing {real_missing[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
