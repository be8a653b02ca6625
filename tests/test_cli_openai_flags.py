"""The OpenAI backend's server flags reach the backend, and only the openai backend."""

from __future__ import annotations

import argparse

import pytest

from clearft.cli.common import add_backend_args, backend_options
from clearft.errors import ClearftError


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_backend_args(p)
    return p.parse_args(list(argv))


def test_server_flags_become_backend_options() -> None:
    args = parse("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--server-kind", "vllm",
                 "--max-concurrency", "64", "--no-group-samples")
    assert backend_options(args) == {"base_url": "http://127.0.0.1:9/v1", "server_kind": "vllm",
                                     "max_concurrency": 64, "group_samples": False}
    assert "server_kind" not in backend_options(parse("--backend", "openai"))  # auto: probe


@pytest.mark.parametrize("argv, message", [
    (("--server-kind", "vllm"), "--server-kind applies to the openai backend only"),
    (("--backend", "openai", "--max-concurrency", "0"), "--max-concurrency must be at least 1"),
])
def test_misplaced_or_bad_server_flags_are_one_line_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ClearftError, match=message):
        backend_options(parse(*argv))
