"""The vLLM backend's pure parts (payloads, parsing), on plain data shaped like vLLM's
outputs: vLLM itself is not installed here (no GPU). Its I/O is untested on a GPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clearft.backends.base import Completion, GenerateRequest, LoglikelihoodResult
from clearft.backends.registry import BACKENDS, load_backend, missing_dependencies
from clearft.backends.vllm_backend import (
    continuation_logprob,
    expand_samples,
    first_token_top,
    merge_samples,
    parse_sample,
    plain_output,
    sampling_kwargs,
    with_assistant_prefix,
)
from clearft.errors import ClearftError

MSG = [{"role": "user", "content": "hi"}]


def test_each_sample_is_its_own_request_with_seed_plus_i() -> None:
    req = GenerateRequest(MSG, n=3, temperature=1.0, max_tokens=20, seed=7, stop=["\n"], top_logprobs=5)
    assert sampling_kwargs(req, 2) == {"n": 1, "temperature": 1.0, "max_tokens": 20, "seed": 9,
                                       "stop": ["\n"], "logprobs": 5}
    assert sampling_kwargs(GenerateRequest(MSG), 0) == {"n": 1, "temperature": 0.0, "max_tokens": 256, "seed": 0}
    assert expand_samples([GenerateRequest(MSG, n=2), GenerateRequest(MSG, n=1)]) == [(0, 0), (0, 1), (1, 0)]


def test_assistant_prefix_is_appended_to_the_rendered_prompt() -> None:
    assert with_assistant_prefix("<|im_start|>assistant\n", "answer: ") == "<|im_start|>assistant\nanswer: "


def test_parse_sample_reads_text_tokens_and_first_token_top_logprobs() -> None:
    output = {
        "prompt_token_ids": [1, 2, 3, 4],
        "outputs": [{"text": "A", "token_ids": [65, 2],
                     "logprobs": [{65: {"logprob": -0.1, "decoded_token": "A"},
                                   66: SimpleNamespace(logprob=-2.5, decoded_token="B")},
                                  {2: {"logprob": -0.01, "decoded_token": "</s>"}}]}],
    }
    assert parse_sample(output, want_top=True) == Completion(
        texts=["A"], first_token_logprobs=[{"A": -0.1, "B": -2.5}], prompt_tokens=4, completion_tokens=2)
    assert parse_sample(output, want_top=False).first_token_logprobs is None
    assert parse_sample({"outputs": []}, want_top=False).error == "vLLM returned no output"
    assert first_token_top(None) == {}


def test_plain_output_reads_vllm_objects() -> None:
    out = SimpleNamespace(prompt_token_ids=[1, 2],
                          outputs=[SimpleNamespace(text="x", token_ids=(5,), logprobs=None)])
    assert plain_output(out) == {"prompt_token_ids": [1, 2],
                                 "outputs": [{"text": "x", "token_ids": [5], "logprobs": None}]}


def test_merge_samples_keeps_order_sums_tokens_and_passes_errors_on() -> None:
    a = Completion(["x"], [{"A": -1.0}], 3, 1)
    b = Completion(["y"], [{"B": -2.0}], 3, 2)
    assert merge_samples(2, [a, b], want_top=True) == Completion(["x", "y"], [{"A": -1.0}, {"B": -2.0}], 6, 3)
    assert merge_samples(2, [a, Completion([], error="oom")], want_top=False).error == "oom"
    assert merge_samples(3, [a, b], want_top=False).error == "expected 3 samples, got 2"


def test_continuation_logprob_sums_only_the_continuation_tokens() -> None:
    prompt_logprobs = [None, {8: {"logprob": -9.0}}, {5: {"logprob": -0.5}}, {6: SimpleNamespace(logprob=-1.25)}]
    assert continuation_logprob(prompt_logprobs, [1, 8, 5, 6], 2) == LoglikelihoodResult(-1.75, 2)
    assert continuation_logprob(prompt_logprobs, [1, 8], 2) == LoglikelihoodResult(0.0, 0)
    missing = continuation_logprob([None, None, None], [1, 8, 5], 2)
    assert missing.error == "no log-probability for token 2"


def test_vllm_is_registered_and_fails_with_the_install_line_when_missing() -> None:
    assert "vllm" in BACKENDS
    if missing_dependencies("vllm"):
        with pytest.raises(ClearftError, match=r"pip install 'clearft\[vllm\]'"):
            load_backend("vllm", model="some/model")
