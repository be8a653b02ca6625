"""clearft: find, filter and fix the bad targets in LLM fine-tuning data (CLEAR).

The public Python API mirrors the CLI. On in-memory data (a pandas DataFrame, a
datasets.Dataset or a list of dicts)::

    import clearft
    scored = clearft.score(df)                     # + confidence, evidence, ...
    kept = clearft.filter(scored, fraction=0.5)    # the confidently good rows
    fixed = clearft.correct(dropped)               # Auto-Correct
    curated = clearft.curate(df, test=test_df)     # the whole loop, as `clearft run`

The file API (clearft.scoring.score_file, clearft.filtering.filter_file, ...) runs under
both. Importing clearft is cheap: these names load on first use (module `__getattr__`),
and heavy libraries (torch, transformers, llama.cpp, pandas) only inside the functions
that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it, imported on first access
_LAZY = {
    "score": "clearft.api",
    "filter": "clearft.api",
    "correct": "clearft.api",
    "curate": "clearft.api",
}

if TYPE_CHECKING:
    from clearft.api import correct, curate, filter, score

__all__ = ["__version__", "correct", "curate", "filter", "score"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clearft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
