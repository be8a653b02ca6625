"""The data layer's output fed to the real default model: parsed examples of every record
format (system turns, multi-turn chats, lettered options) are prompts the model accepts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clearft.backends.base import LoglikelihoodRequest
from clearft.data import open_dataset

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.mark.slow
def test_examples_of_every_format_run_through_the_default_model(default_backend) -> None:
    examples = []
    for name in ["alpaca.json", "messages.jsonl", "sharegpt.jsonl", "prompt_completion.jsonl",
                 "multiple_choice.csv"]:
        examples.append(list(open_dataset(FIXTURES / name))[-1])  # the richer second record
    examples.append(next(iter(open_dataset(ROOT / "examples" / "data" / "banking77_noisy.jsonl"))))
    assert len(examples) == 6

    scores = default_backend.loglikelihood(
        [LoglikelihoodRequest(messages=ex.messages, continuation=ex.response) for ex in examples])
    assert all(s.ok for s in scores), [s.error for s in scores if not s.ok]
    assert all(math.isfinite(s.logprob) and s.logprob < 0 for s in scores)
    # each format's target, whole and alone, is the continuation scored
    assert [s.n_tokens for s in scores] == [len(default_backend.tokenize(ex.response)) for ex in examples]
    # Different prompts and targets reached the model: their scores are not all the same.
    assert len({round(s.logprob, 3) for s in scores}) > 1

