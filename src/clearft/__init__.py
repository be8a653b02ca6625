"""clearft: find, filter and fix the bad targets in LLM fine-tuning data (CLEAR).

The public Python API mirrors the CLI. Heavy libraries (torch, transformers, llama.cpp)
are imported lazily, inside the functions that need them, so importing clearft is cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
