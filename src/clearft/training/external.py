"""Fine-tuning with the user's own trainer: run their command, then check it made a model.

The command template names its inputs with placeholders: ``{data}`` (the training file),
``{output}`` (the folder the model must be written to; ``{out}`` works too). The template is
split like a shell line and each word is filled in separately, so paths with spaces are safe
and nothing is interpreted by a shell.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from clearft.errors import ClearftError

DONE_MARKER = "DONE"


def build_command(template: str, data_path: str | Path, out_dir: str | Path) -> list[str]:
    """The argv for `template` with {data} and {output} filled in (pure)."""
    if "{data}" not in template or ("{output}" not in template and "{out}" not in template):
        raise ClearftError(
            "the fine-tuning command must name its input and output with {data} and {output}, "
            f"e.g. 'mytrain --data {{data}} --out {{output}}'; got: {template!r}"
        )
    values = {"data": str(data_path), "output": str(out_dir), "out": str(out_dir)}
    try:
        return [word.format(**values) for word in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as exc:
        raise ClearftError(f"cannot fill in the fine-tuning command {template!r}: {exc}") from exc


def looks_like_model(path: Path) -> bool:
    """A Hugging Face folder (config + weights), a LoRA adapter, or a folder holding a GGUF."""
    if not path.is_dir():
        return False
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("*.bin"))
    if (path / "config.json").is_file() and has_weights:
        return True
    if (path / "adapter_config.json").is_file() and has_weights:
        return True
    return any(path.glob("*.gguf"))


def finetune_external(
    command_template: str,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    timeout: float | None = None,
) -> Path:
    """Run e.g. "mytrain --data {data} --out {output}" and return the model folder it wrote.

    Resumable: if `out_dir` already holds a model from an earlier successful run (DONE marker),
    the command is not run again. Fails (ClearftError) if the command exits non-zero, times
    out, or leaves no model in `out_dir`.
    """
    out = Path(out_dir)
    if (out / DONE_MARKER).is_file() and looks_like_model(out):
        return out
    if not Path(data_path).exists():
        raise ClearftError(f"training data {data_path} does not exist")
    argv = build_command(command_template, data_path, out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(argv, stdout=None, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise ClearftError(f"fine-tuning command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClearftError(f"fine-tuning command timed out after {timeout} s: {shlex.join(argv)}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or "").strip().splitlines()[-15:])
        raise ClearftError(
            f"fine-tuning command failed with exit code {proc.returncode}: {shlex.join(argv)}"
            + (f"\n{tail}" if tail else "")
        )
    if not looks_like_model(out):
        raise ClearftError(
            f"the fine-tuning command succeeded but {out} holds no model (expected config.json "
            "with *.safetensors/*.bin weights, a LoRA adapter, or a .gguf file)"
        )
    (out / DONE_MARKER).write_text(shlex.join(argv) + "\n")
    return out
