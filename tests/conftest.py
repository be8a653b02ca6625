"""Shared fixtures. Unit tests use the scripted fake backend; tests marked `slow` run the
real embedded default model (loaded once per session) and run in CI too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearft.backends.fake import FakeBackend

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The CLI offers the scripted `fake` backend only with this set (tests drive it through the CLI).
os.environ.setdefault("CLEARFT_TEST_BACKENDS", "1")


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(scope="session")
def default_backend() -> Iterator[object]:
    """The embedded SmolLM2-135M-Instruct through llama.cpp, shared by every slow test."""
    from clearft.backends.registry import load_backend

    backend = load_backend("llamacpp")
    yield backend
    backend.close()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template, saved as a folder."""
    pytest.importorskip("torch")
    import transformers

    from clearft.models import default_gguf_path

    gguf = default_gguf_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    transformers.set_seed(0)
    model = transformers.LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-base")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
