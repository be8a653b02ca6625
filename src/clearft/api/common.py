"""What the API functions share: a temporary work folder, backends by object or by name,
the data options, and settings given as keywords."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.data.options import DataOptions
from clearft.errors import ClearftError

BackendArg = Backend | str | None  # an object (used as is, never closed) or a registry name


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    """A temporary folder for the JSONL files of one call, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="clearft-api-") as tmp:
        yield Path(tmp)


def data_options(format: str | None, prompt_col: str | None, response_col: str | None,
                 id_col: str | None, on_error: str) -> DataOptions:
    """The record-format options of the file API (the CLI's --format, --prompt-col, ...)."""
    return DataOptions(format=format, prompt_col=prompt_col, response_col=response_col, id_col=id_col,
                       on_error=on_error)


class Model:
    """A backend given as an object (used as is; the caller closes it) or by name like the
    CLI's --backend / --model (opened on first use, with the call cache, and closed by
    `close`). `options` go to the backend's constructor (base_url, api_key_env,
    concurrency, reproducible, ...)."""

    def __init__(self, backend: BackendArg, model: str | None = None,
                 options: dict[str, Any] | None = None, cache: str | None = None,
                 role: str = "backend") -> None:
        if isinstance(backend, Backend) and (model is not None or options):
            raise ClearftError(f"{role}: model and backend options go with a backend name, not a Backend object")
        if backend is not None and not isinstance(backend, (Backend, str)):
            raise ClearftError(f"{role} must be a Backend or a backend name, not {type(backend).__name__}")
        self.backend = backend
        self.options = {**(options or {}), **({"model": model} if model is not None else {})}
        self.cache = cache
        self._opened: Backend | None = None

    def open(self) -> Backend:
        if isinstance(self.backend, Backend):
            return self.backend
        if self._opened is None:
            from clearft.backends.cache import open_backend

            self._opened = open_backend(self.backend, cache=self.cache, **self.options)
        return self._opened

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def settings_of(cls: type, settings: dict[str, Any], what: str) -> dict[str, Any]:
    """`settings` checked against the fields of the dataclass `cls`: an unknown name is a
    ClearftError listing the known ones (not a TypeError from deep inside)."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(k for k in settings if k not in known)
    if unknown:
        raise ClearftError(f"unknown {what} setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return settings


def reporter(progress: bool | Callable[[str], None]) -> Callable[[str], None] | None:
    """Progress messages: True prints them to stderr, False drops them, a function gets them."""
    if callable(progress):
        return progress
    return (lambda m: print(m, file=sys.stderr)) if progress else None
