"""The transformers backend on the embedded GGUF (de-quantized by transformers), and its
agreement with the llama.cpp backend on log-likelihoods of the same weights (slow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
from clearft.backends.transformers_backend import cut_at_stop, plain_prompt, shared_prompt_groups

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def test_cut_at_stop_cuts_at_the_earliest_stop() -> None:
    assert cut_at_stop("abc. def\nghi", [".", "\n"]) == "abc"
    assert cut_at_stop("abc", ["x", ""]) == "abc"


def test_plain_prompt_for_models_without_a_template() -> None:
    assert plain_prompt([{"role": "user", "content": "hi"}]) == "user: hi\n\nassistant:"


def test_shared_prompt_groups_keep_only_prompts_asked_more_than_once() -> None:
    assert shared_prompt_groups(["a", "b", "a", "c", "a", "b"]) == {"a": [0, 2, 4], "b": [1, 5]}
    assert shared_prompt_groups(["a", "b"]) == {}


@pytest.fixture(scope="module")
def hf() -> Iterator[Any]:
    pytest.importorskip("torch")
    from clearft.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(batch_size=4)
    yield backend
    backend.close()


@pytest.mark.slow
def test_generate_greedy_batched_and_seeded(hf: Any) -> None:
    other = [{"role": "user", "content": "Say hello."}]
    batch = hf.generate([GenerateRequest(CHAT, max_tokens=5, n=2), GenerateRequest(other, max_tokens=5)])
    alone = hf.generate([GenerateRequest(other, max_tokens=5)])
    assert batch[1].texts == alone[0].texts  # left padding does not change greedy output
    assert batch[0].texts[0] == batch[0].texts[1] and batch[0].texts[0].strip()
    req = GenerateRequest(CHAT, n=2, temperature=1.0, max_tokens=5, seed=3)
    first = hf.generate([req])[0].texts
    assert hf.generate([req.single(1)])[0].texts == [first[1]]


@pytest.mark.slow
def test_sampled_rows_batched_are_the_rows_decoded_alone(hf: Any) -> None:
    # Sampled requests now share batches (left-padded, prompts of other lengths); each sample
    # still comes from its own seeded stream, so it is the text that sample decodes alone.
    other = [{"role": "user", "content": "Name three colours, please, in one line."}]
    reqs = [GenerateRequest(CHAT, n=3, temperature=1.0, max_tokens=6, seed=11),
            GenerateRequest(other, n=2, temperature=0.7, max_tokens=6, seed=5, top_logprobs=2)]
    batch = hf.generate(reqs)
    assert [len(c.texts) for c in batch] == [3, 2] and all(c.error is None for c in batch)
    assert len(set(batch[0].texts)) > 1  # sampled, not one greedy decode copied
    for req, comp in zip(reqs, batch, strict=True):
        for i, text in enumerate(comp.texts):
            alone = hf.generate([req.single(i)])[0]
            assert alone.texts == [text]
    assert batch[1].first_token_logprobs is not None and len(batch[1].first_token_logprobs[0]) == 2


def test_seeded_sampler_follows_each_rows_own_uniforms() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from clearft.backends.seeded_sampler import seeded_sampler

    scores = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]))
    # Two rows with the same seed pick the same token; the pick is a one-hot score.
    picked = seeded_sampler([7, 7], 4, 1.0, prompt_width=2, device="cpu")(torch.zeros((2, 2), dtype=torch.long), scores)
    assert picked[0].argmax() == picked[1].argmax() and int(torch.isfinite(picked).sum()) == 2
    # Over many seeds the picks follow the softmax: token 0 about half the time.
    rows = 400
    sampler = seeded_sampler(list(range(rows)), 1, 1.0, prompt_width=0, device="cpu")
    counts = sampler(torch.zeros((rows, 0), dtype=torch.long), scores[:1].repeat(rows, 1)).argmax(dim=-1).bincount(minlength=3)
    assert 160 < int(counts[0]) < 240 and int(counts[1]) > 50 and int(counts[2]) > 50
    # Temperature near zero is greedy.
    cold = seeded_sampler([1], 1, 1e-4, prompt_width=0, device="cpu")(torch.zeros((1, 0), dtype=torch.long), scores[:1])
    assert int(cold.argmax()) == 0


@pytest.mark.slow
def test_top_logprobs_and_assistant_prefix(hf: Any) -> None:
    req = GenerateRequest(CHAT, max_tokens=2, top_logprobs=3, assistant_prefix="The capital of France is")
    comp = hf.generate([req])[0]
    top = comp.first_token_logprobs[0]
    assert len(top) == 3 and max(top, key=top.get) == " Paris"


@pytest.mark.slow
def test_loglikelihood_is_sane_and_matches_llamacpp(hf: Any, default_backend: Any) -> None:
    reqs = [
        LoglikelihoodRequest(CHAT, "The capital of France is Paris."),
        LoglikelihoodRequest(CHAT, "The capital of France is Banana."),
        LoglikelihoodRequest(CHAT, " Paris", assistant_prefix="The capital of France is"),
    ]
    exact = hf.loglikelihood(reqs)
    assert exact[0].logprob > exact[1].logprob
    assert hf.loglikelihood(reqs[1:2])[0].logprob == pytest.approx(exact[1].logprob, abs=1e-3)
    # reqs[0] and reqs[1] share a prompt: scored from one cached prompt pass, the same sums.
    plain = hf._loglikelihood_batch(reqs)
    for a, b in zip(exact, plain, strict=True):
        assert a.n_tokens == b.n_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-3)
    # Same weights, llama.cpp's quantized activations: close, not equal.
    forced = default_backend.loglikelihood(reqs)
    for a, b in zip(exact, forced, strict=True):
        assert a.n_tokens == b.n_tokens
        assert a.logprob == pytest.approx(b.logprob, abs=0.15 * a.n_tokens + 0.1)


@pytest.fixture(scope="module")
def lively_base(tiny_base: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """tiny_base's tokenizer on a random Llama whose greedy replies depend on the prompt (large
    initial weights, output layer not tied to the input embeddings: the tied tiny model echoes
    its last input token, whatever came before)."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_base)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=False, initializer_range=0.5,
    )
    transformers.set_seed(0)
    path = tmp_path_factory.mktemp("lively-base")
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_prompts_that_begin_alike_decode_as_they_do_alone(lively_base: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tokens every prompt of a batch begins with run once as a cache
    (backends/prefix_cache.py); greedy and seeded replies are those of plain left padding."""
    from clearft.backends import prefix_cache
    from clearft.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(model=lively_base, batch_size=8)
    instruction = "Classify the sentiment of this financial news sentence as positive, negative or neutral. "
    reqs = [GenerateRequest([{"role": "user", "content": instruction + s}], max_tokens=8)
            for s in ("Profits rose.", "The company cut 300 jobs after a weak quarter.", "Sales were flat.")]
    sampled = [GenerateRequest(r.messages, max_tokens=8, n=2, temperature=1.0, seed=4) for r in reqs]
    encoded = [backend._ids(backend.render_chat(r.messages)) for r in reqs]
    assert prefix_cache.common_prefix_length(encoded) >= prefix_cache.MIN_SHARED_PREFIX
    calls: list[int] = []
    real = prefix_cache.prefix_cache
    monkeypatch.setattr(prefix_cache, "prefix_cache",
                        lambda model, ids, rows, **kw: calls.append(ids.shape[1]) or real(model, ids, rows, **kw))
    shared = [c.texts for c in backend.generate(reqs + sampled)]
    assert calls and all(n == prefix_cache.common_prefix_length(encoded) for n in calls)
    with monkeypatch.context() as m:
        m.setattr(prefix_cache, "MIN_SHARED_PREFIX", 10**6)
        plain = [c.texts for c in backend.generate(reqs + sampled)]
        alone = [backend.generate([r])[0].texts for r in reqs]
    assert shared == plain and shared[:3] == alone
    assert len({t[0] for t in shared[:3]}) == 3  # the greedy replies depend on each row's own tokens
    # a generate that refuses a cache handed in decodes with plain padding, and stops trying
    generate = backend.model.generate

    def refuse(**kwargs: Any) -> Any:
        if kwargs.get(prefix_cache.cache_argument(backend.model)) is not None:
            raise ValueError("a cache and cache_implementation together")
        return generate(**kwargs)

    monkeypatch.setattr(backend.model, "generate", refuse)
    assert [c.texts for c in backend.generate(reqs + sampled)] == plain
    assert getattr(backend.model, prefix_cache.UNSHAREABLE) is True
    backend.close()
    # a sliding-window model (its cache's layers are not plain DynamicLayers) never shares
    windowed = TransformersBackend(model=lively_base, batch_size=8)
    calls.clear()
    monkeypatch.setattr(windowed.model.config, "sliding_window", 4, raising=False)
    monkeypatch.setattr(windowed.model.config, "layer_types", ["sliding_attention"] * 2, raising=False)
    windowed_texts = [c.texts for c in windowed.generate(reqs)]
    assert calls and getattr(windowed.model, prefix_cache.UNSHAREABLE) is True
    assert len(windowed_texts) == 3
    windowed.close()


def test_common_prefix_leaves_every_row_a_token_of_its_own() -> None:
    from clearft.backends.prefix_cache import MIN_SHARED_PREFIX, common_prefix_length

    base = list(range(MIN_SHARED_PREFIX + 4))
    assert common_prefix_length([base, base + [7], base[:-1] + [9]]) == len(base) - 1
    assert common_prefix_length([base, base]) == len(base) - 1  # the same prompt twice
    assert common_prefix_length([base]) == 0  # one row: nothing to share
    assert common_prefix_length([base, [1] + base]) == 0
    assert common_prefix_length([base[:10] + [1], base[:10] + [2]]) == 0  # under MIN_SHARED_PREFIX
