"""The llama.cpp backend: pure payload/parse helpers, then the real embedded model (slow)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.base import Completion, GenerateRequest, LoglikelihoodRequest
from clearft.backends.llamacpp import (
    PROMPT_RATE_MIN_TOKENS,
    PROMPT_RATE_PATHS,
    REPRODUCIBLE_SETTINGS,
    default_threads,
)
from clearft.backends.llamacpp_loglik import continuation_logprobs
from clearft.backends.llamacpp_payload import (
    chat_payload,
    forced_logprob,
    map_in_threads,
    merge_calls,
    parse_reply,
    plan_calls,
    raw_payload,
    server_error,
    token_grammar,
)
from clearft.errors import ClearftError

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


# ---------------------------------------------------------------------------------------
# Pure helpers


def test_token_grammar_forces_the_exact_ids() -> None:
    assert token_grammar([38634, 314]) == "root ::= <[38634]> <[314]>"
    with pytest.raises(ValueError):
        token_grammar([])


def test_continuation_logprobs_is_the_log_softmax_of_hidden_times_output() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    hidden, output = rng.normal(size=(3, 4)), rng.normal(size=(10, 4)).astype(np.float32)
    targets = [7, 0, 9]
    logits = hidden @ output.T
    want = [logits[t, k] - math.log(sum(math.exp(x) for x in logits[t])) for t, k in enumerate(targets)]
    assert list(continuation_logprobs(hidden, output, targets)) == pytest.approx(want, abs=1e-5)
    with pytest.raises(ValueError, match="2 hidden states for 3 tokens"):
        continuation_logprobs(hidden[:2], output, targets)


def test_chat_payload_asks_for_count_samples_from_seed_plus_first() -> None:
    req = GenerateRequest(CHAT, n=4, temperature=0.7, max_tokens=9, stop=["\n"], seed=100, top_logprobs=3)
    assert chat_payload(req, 2, 2) == {
        "messages": CHAT,
        "temperature": 0.7,
        "max_tokens": 9,
        "seed": 102,  # the server gives child i the seed 102 + i: samples 2 and 3 get 102, 103
        "n_cmpl": 2,
        "stop": ["\n"],
        "logprobs": True,
        "top_logprobs": 3,
    }


def test_raw_payload_asks_for_n_probs() -> None:
    req = GenerateRequest(CHAT, top_logprobs=5, assistant_prefix="Answer:")
    payload = raw_payload("PROMPT", req)
    assert payload["prompt"] == "PROMPT" and payload["n_probs"] == 5 and payload["n_cmpl"] == 1
    assert "messages" not in payload and "stop" not in payload


def _choice_with_top(tokens: dict[str, float]) -> dict[str, Any]:
    top = [{"token": t, "logprob": lp} for t, lp in tokens.items()]
    return {"logprobs": {"content": [{"id": 1, "token": "A", "logprob": -0.1, "top_logprobs": top}]}}


def test_parse_reply_reads_chat_and_raw_replies_in_index_order() -> None:
    chat = {
        "choices": [{"index": 1, "message": {"content": "Lyon"}, **_choice_with_top({"B": -0.5})},
                    {"index": 0, "message": {"content": "Paris"}, **_choice_with_top({"A": -0.1, "B": -2.0})}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 4},
        "timings": {"cache_n": 12},
    }
    assert parse_reply(chat, want_top=True) == Completion(
        texts=["Paris", "Lyon"], first_token_logprobs=[{"A": -0.1, "B": -2.0}, {"B": -0.5}],
        prompt_tokens=30, completion_tokens=4, cached_prompt_tokens=12,
    )
    raw = {"choices": [{"text": " Paris"}], "usage": {"prompt_tokens": 5, "completion_tokens": 1,
                                                      "prompt_tokens_details": {"cached_tokens": 4}}}
    assert parse_reply(raw, want_top=False) == Completion(texts=[" Paris"], prompt_tokens=5, completion_tokens=1,
                                                          cached_prompt_tokens=4)


def test_parse_reply_turns_a_server_error_into_an_error_result() -> None:
    reply = {"error": {"code": 400, "message": "failed to parse grammar"}}
    assert server_error(reply) == "failed to parse grammar"
    assert parse_reply(reply, want_top=False).error == "failed to parse grammar"
    assert server_error("garbage") is not None
    assert parse_reply({"choices": []}, want_top=False).error


def test_merge_calls_keeps_order_and_sums_tokens() -> None:
    req = GenerateRequest(CHAT, n=3, temperature=1.0, top_logprobs=1)
    a = Completion(["x", "y"], [{"A": -1.0}, {"B": -2.0}], prompt_tokens=10, completion_tokens=3, cached_prompt_tokens=2)
    b = Completion(["z"], [{"C": -3.0}], prompt_tokens=10, completion_tokens=4)
    assert merge_calls(req, [a, b]) == Completion(["x", "y", "z"], [{"A": -1.0}, {"B": -2.0}, {"C": -3.0}], 20, 7,
                                                  cached_prompt_tokens=2)
    assert merge_calls(req, [a, Completion([], error="boom")]).error == "boom"


def test_merge_calls_copies_a_greedy_sample_and_counts_it_once() -> None:
    req = GenerateRequest(CHAT, n=3, temperature=0.0)
    one = Completion(["same"], prompt_tokens=10, completion_tokens=2)
    assert merge_calls(req, [one]) == Completion(["same"] * 3, None, 10, 2)


def test_forced_logprob_sums_and_checks_the_tokens() -> None:
    reply = {"choices": [{"logprobs": {"content": [{"id": 5, "logprob": -1.0}, {"id": 6, "logprob": -0.5}]}}]}
    result = forced_logprob(reply, [5, 6])
    assert (result.logprob, result.n_tokens, result.ok) == (-1.5, 2, True)
    assert not forced_logprob(reply, [5, 7]).ok
    # The server merges a token that is part of a UTF-8 character into the next one's entry
    # (measured: " √" = [19995, 244] came back as one entry for 244): said, never summed wrong.
    merged = forced_logprob(reply, [5, 19995, 6])
    assert not merged.ok and "pieces of a multi-byte character" in (merged.error or "")
    assert "did not follow" in (forced_logprob(reply, [5, 7]).error or "")


def test_map_in_threads_keeps_input_order() -> None:
    assert map_in_threads(lambda x: x * x, list(range(20)), workers=4) == [x * x for x in range(20)]


def _ask(text: str, n: int = 1, temperature: float = 1.0, prefix: str = "") -> GenerateRequest:
    return GenerateRequest([{"role": "user", "content": text}], n=n, temperature=temperature,
                           assistant_prefix=prefix)


def test_plan_calls_send_a_requests_samples_together_up_to_the_slot_count() -> None:
    requests = [_ask("first row", n=5), _ask("reflection", prefix="answer:"), _ask("greedy", n=4, temperature=0.0)]
    assert plan_calls(requests, slots=8) == [(0, 0, 5), (1, 0, 1), (2, 0, 1)]
    assert plan_calls(requests, slots=2) == [(0, 0, 2), (0, 2, 2), (0, 4, 1), (1, 0, 1), (2, 0, 1)]


def test_default_threads_use_every_core_unless_the_machine_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEARFT_LLAMA_THREADS", raising=False)
    assert default_threads(cores=8, load=0.5) == 8
    assert default_threads(cores=8, load=6.0) == 4
    assert default_threads(cores=1, load=3.0) == 1
    monkeypatch.setenv("CLEARFT_LLAMA_THREADS", "3")
    assert default_threads(cores=8, load=0.0) == 3


def test_reproducible_mode_keeps_only_the_settings_that_earned_their_place() -> None:
    # Measured in bench/results/scoring.md, session 9: flash attention on made reflection
    # log-probabilities and seeded samples depend on the slot count; continuous batching on
    # changed nothing and was dropped. Change this only with a new measurement.
    assert REPRODUCIBLE_SETTINGS == {"kv_unified": False, "flash_attn_type": 0}


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    from clearft.backends.llamacpp import LlamaCppBackend

    with pytest.raises(ClearftError, match="no GGUF model file"):
        LlamaCppBackend(model=tmp_path / "nope.gguf")


# ---------------------------------------------------------------------------------------
# The real embedded model


@pytest.mark.slow
def test_generate_returns_text_and_token_counts(default_backend: Any) -> None:
    out = default_backend.generate([
        GenerateRequest(CHAT, max_tokens=16),
        GenerateRequest(CHAT, n=2, max_tokens=8, temperature=1.0),
        GenerateRequest(CHAT, n=3, max_tokens=8),
    ])
    assert [len(c.texts) for c in out] == [1, 2, 3]
    assert len(set(out[2].texts)) == 1 and out[2].completion_tokens <= 8  # greedy: one decode
    assert all(c.ok for c in out)
    assert out[0].texts[0].strip()
    assert 0 < out[0].completion_tokens <= 16
    # the counts are the tokens of the text returned and of the chat template's prompt
    assert out[0].completion_tokens == len(default_backend.tokenize(out[0].texts[0]))
    assert out[0].prompt_tokens == len(default_backend.tokenize(default_backend.render_chat(CHAT)))
    assert default_backend.capabilities.loglikelihood and default_backend.capabilities.max_context == 2048


@pytest.mark.slow
def test_seeds_are_reproducible_per_sample(default_backend: Any) -> None:
    req = GenerateRequest(CHAT, n=3, temperature=1.0, max_tokens=16, seed=42)
    first = default_backend.generate([req])[0].texts
    again = default_backend.generate([req])[0].texts
    alone = default_backend.generate([req.single(2)])[0].texts
    assert first == again
    assert alone == [first[2]]  # sample i does not depend on how many were asked for
    assert len(set(first)) > 1  # different seeds, different samples


@pytest.mark.slow
def test_top_logprobs_of_a_choice_letter(default_backend: Any) -> None:
    question = [{"role": "user", "content": "Which is a fruit? (A) apple (B) chair (C) rock. Reply with one letter."}]
    req = GenerateRequest(question, max_tokens=1, top_logprobs=5, assistant_prefix="The answer is (")
    comp = default_backend.generate([req])[0]
    top = comp.first_token_logprobs[0]
    assert len(top) == 5
    assert all(lp <= 0 for lp in top.values())
    assert sum(math.exp(lp) for lp in top.values()) <= 1.0 + 1e-6
    letters = {t.strip() for t in top}
    assert {"A", "B", "C"} & letters  # the letters are among the likeliest next tokens
    assert comp.texts == [max(top, key=top.__getitem__)]  # greedy: the likeliest token is the one written
    # each is the log-probability the model gives that token there, as log-likelihood scoring finds it
    scored = default_backend.loglikelihood([LoglikelihoodRequest(question, token, assistant_prefix="The answer is (")
                                            for token in top])
    assert [s.n_tokens for s in scored] == [1] * 5
    assert [s.logprob for s in scored] == pytest.approx(list(top.values()), abs=0.01)


@pytest.mark.slow
def test_loglikelihood_prefers_the_likely_continuation(default_backend: Any) -> None:
    likely = LoglikelihoodRequest(CHAT, "The capital of France is Paris.")
    unlikely = LoglikelihoodRequest(CHAT, "The capital of France is Banana.")
    with_prefix = LoglikelihoodRequest(CHAT, " Paris", assistant_prefix="The capital of France is")
    a, b, c = default_backend.loglikelihood([likely, unlikely, with_prefix])
    assert a.ok and b.ok and c.ok
    assert a.logprob > b.logprob
    assert a.n_tokens == 7 and b.n_tokens == 8  # " Banana" is two tokens
    assert -2.0 < c.logprob < 0  # " Paris" right after that prefix is near certain
    alone = default_backend.loglikelihood([unlikely])[0]
    assert alone.logprob == pytest.approx(b.logprob, abs=0.05)  # no batch-size effect


SOLUTION = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
            "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18")
EGGS = [{"role": "user", "content": "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes "
         "muffins with four. She sells the rest at $2 each. How much does she make every day?"}]


@pytest.mark.slow
@pytest.mark.parametrize("path", PROMPT_RATE_PATHS)
def test_forward_pass_paths_match_forcing_the_tokens(default_backend: Any, path: str) -> None:
    """Each one-pass path gives the forced path's log-probabilities within 0.05 nats a token
    (measured on GSM8K: at most 0.023), with and without a prompt; alone as in a batch."""
    if path != default_backend.forward.path:
        default_backend.forward.start(path)  # the probe inside raises if it disagrees
    ids = default_backend.tokenize(SOLUTION)
    assert len(ids) >= PROMPT_RATE_MIN_TOKENS
    for messages in (EGGS, [{"role": "user", "content": ""}]):
        prompt = default_backend.render_chat(messages)
        forced = default_backend._forced_loglikelihood(prompt, ids)
        one_pass = default_backend.forward.loglikelihood(path, prompt, ids)
        assert forced.ok and one_pass.ok and one_pass.n_tokens == forced.n_tokens == len(ids)
        assert abs(one_pass.logprob - forced.logprob) / len(ids) < 0.05
        assert default_backend.forward.loglikelihood(path, prompt, ids).logprob == one_pass.logprob


@pytest.mark.slow
def test_long_continuations_take_the_forward_pass_and_ignore_the_batch(default_backend: Any) -> None:
    req = LoglikelihoodRequest(EGGS, SOLUTION)
    batch = default_backend.loglikelihood([LoglikelihoodRequest(CHAT, "Paris."), req, LoglikelihoodRequest(CHAT, SOLUTION)])
    assert default_backend.forward.path in PROMPT_RATE_PATHS, default_backend.forward.note
    alone = default_backend.loglikelihood([req])[0]
    assert all(r.ok for r in batch) and alone.logprob == batch[1].logprob  # exactly: one request per pass
    prompt = default_backend.render_chat(EGGS)
    forced = default_backend._forced_loglikelihood(prompt, default_backend.tokenize(SOLUTION))
    assert abs(alone.logprob - forced.logprob) / forced.n_tokens < 0.05


@pytest.mark.slow
def test_empty_continuation_scores_zero(default_backend: Any) -> None:
    result = default_backend.loglikelihood([LoglikelihoodRequest(CHAT, "")])[0]
    assert (result.logprob, result.n_tokens, result.ok) == (0.0, 0, True)


def test_fast_unreproducible_flag_reaches_only_the_llamacpp_backend() -> None:
    import argparse

    from clearft.cli.common import add_backend_args, backend_options

    p = argparse.ArgumentParser()
    add_backend_args(p)
    assert backend_options(p.parse_args([])) == {}
    assert backend_options(p.parse_args(["--fast-unreproducible"])) == {"reproducible": False}
    with pytest.raises(ClearftError, match="llamacpp backend only"):
        backend_options(p.parse_args(["--backend", "openai", "--fast-unreproducible"]))


@pytest.mark.slow
@pytest.mark.parametrize("slots", [1, 4])
def test_prompt_reuse_gives_the_fresh_evaluations_numbers(default_backend: Any, slots: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reply with cached prefixes is bit-identical to the same request evaluated afresh
    (samples, greedy text, top log-probabilities), and the cache was used: with one slot, and
    with parallel slots, where reusing sends the calls one at a time (a prompt evaluated
    beside another sequence is not exact after a cached prefix). The third ask of each question
    continues the second's reply ("A"), so the server would reuse a generated token: the guard
    refuses that attempt and the ask goes again afresh."""
    from clearft.backends.llamacpp import LlamaCppBackend

    monkeypatch.delenv("CLEARFT_LLAMA_PROMPT_REUSE", raising=False)

    def asks(topic: str, seed: int) -> list[GenerateRequest]:
        question = [{"role": "system", "content": "You answer in one short sentence."},
                    {"role": "user", "content": f"Name one fact about {topic}. (A) true (B) false"}]
        return [GenerateRequest(question, n=3, temperature=1.0, max_tokens=12, seed=seed),
                GenerateRequest(question, max_tokens=4, top_logprobs=5, assistant_prefix="Answer: ("),
                GenerateRequest(question, max_tokens=4, top_logprobs=5, assistant_prefix="Answer: (A or B): (")]

    requests = [r for i, topic in enumerate(["Paris", "rivers", "the moon", "bread"]) for r in asks(topic, i)]
    results, redone = {}, {}
    for reuse in (False, True):
        # afresh one call at a time too: the parallel decode of other calls' last tokens moves
        # a sample now and then, reuse or not (bench/llamacpp_prefix_reuse.py's control)
        backend = LlamaCppBackend(concurrency=slots, reuse_prompts=reuse, in_flight=1)
        try:
            assert backend.in_flight == 1 and backend.capabilities.parallel_requests == 1
            results[reuse] = backend.generate(requests)  # one call after another: slots keep history
            redone[reuse] = backend.reuse_redone
        finally:
            backend.close()
    fresh, reused = results[False], results[True]
    assert all(c.ok for c in fresh + reused)
    assert [c.texts for c in reused] == [c.texts for c in fresh]
    assert [c.first_token_logprobs for c in reused] == [c.first_token_logprobs for c in fresh]
    assert sum(c.cached_prompt_tokens for c in fresh) == 0
    assert sum(c.cached_prompt_tokens for c in reused) > 0.2 * sum(c.prompt_tokens for c in reused)
    assert redone[False] == 0 and redone[True] >= 1
    # the defaults: reuse, and so one call at a time, with any number of slots; with
    # CLEARFT_LLAMA_PROMPT_REUSE=0, every prompt afresh and one call per slot at once
    assert default_backend._reuse is not None and default_backend.in_flight == 1 < default_backend.concurrency
    monkeypatch.setenv("CLEARFT_LLAMA_PROMPT_REUSE", "0")
    chosen = LlamaCppBackend(concurrency=slots)
    try:
        assert chosen._reuse is None and chosen.in_flight == slots
    finally:
        chosen.close()
