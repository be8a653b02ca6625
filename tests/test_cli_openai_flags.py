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


def test_misplaced_server_flags_are_one_line_errors() -> None:
    with pytest.raises(ClearftError, match="--server-kind applies to the openai backend only"):
        backend_options(parse("--server-kind", "vllm"))


def test_a_bad_max_concurrency_is_refused_when_parsed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--backend", "openai", "--max-concurrency", "0")
    assert exc.value.code == 2
    assert "argument --max-concurrency: must be at least 1, got 0" in capsys.readouterr().err
