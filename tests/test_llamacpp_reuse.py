"""PromptReuseGuard: which cached prefixes give a fresh evaluation's numbers (pure logic)."""

from __future__ import annotations

import pytest

from clearft.backends.llamacpp_reuse import PromptReuseGuard, common_prefix, pack

HEADER = list(range(100, 140))  # 40 tokens every prompt starts with


def prompt(*tail: int) -> list[int]:
    return HEADER + list(tail)


def test_common_prefix_counts_shared_leading_tokens() -> None:
    assert common_prefix(pack([1, 2, 3]), pack([1, 2, 4, 5])) == 2
    assert common_prefix(pack([]), pack([1])) == 0
    assert common_prefix(pack([1, 2]), pack([1, 2])) == 2
    assert common_prefix(pack(list(range(1000))), pack([*range(777), -1])) == 777


def send(guard: PromptReuseGuard, ids: list[int], cached: int | None) -> bool:
    return guard.end(guard.begin(ids), cached)


def test_a_fresh_reply_is_accepted_and_becomes_a_source() -> None:
    guard = PromptReuseGuard(ubatch=512)
    assert send(guard, prompt(1, 2, 3), 0)
    # a later prompt sharing the header may take it from the slot
    assert send(guard, prompt(7, 8, 9), 40)


def test_nothing_cached_can_be_trusted_before_a_source_exists() -> None:
    guard = PromptReuseGuard(ubatch=512)
    assert not send(guard, prompt(1, 2, 3), 40)


def test_reuse_reaching_into_generated_tokens_is_refused() -> None:
    guard = PromptReuseGuard(ubatch=512)
    send(guard, prompt(1, 2), 0)  # the slot then holds prompt(1, 2) + its reply
    # a prompt that continues the reply: the server reuses 43 tokens, 42 of them prompt tokens
    assert not send(guard, prompt(1, 2, 5, 6, 7), 43)


def test_a_whole_prompt_from_the_cache_is_refused_and_poisons_the_slot() -> None:
    guard = PromptReuseGuard(ubatch=512)
    p = prompt(1, 2, 3)
    send(guard, p, 0)
    assert not guard.may_reuse(p)  # the server would re-evaluate its last token alone
    assert not send(guard, p, len(p) - 1)
    # a later prompt that may reuse the token evaluated alone is refused too...
    assert not send(guard, prompt(1, 2, 3, 4, 5), len(p))
    # ...one that stops before it is fine
    assert send(guard, prompt(1, 2, 9, 9), 42)


def test_a_single_row_tail_must_match_the_fresh_evaluations() -> None:
    guard = PromptReuseGuard(ubatch=8)
    send(guard, prompt(1), 0)
    # 49 tokens, 40 cached: 9 evaluated = 8 + a one-row tail, where fresh splits 48 + 1 as well
    assert send(guard, prompt(*range(9)), 40)
    guard2 = PromptReuseGuard(ubatch=8)
    send(guard2, prompt(1), 0)
    # 50 tokens, 41 cached -> 9 evaluated (one-row tail) but fresh splits 48 + 2
    assert not send(guard2, prompt(1, *range(9)), 41)


def test_a_failed_call_leaves_its_prompt_untrusted() -> None:
    guard = PromptReuseGuard(ubatch=512)
    send(guard, prompt(1, 2, 3), 0)
    assert not send(guard, prompt(5, 6, 7), None)
    # the failed prompt's slot may be the one that served: past the header, nothing is trusted
    assert not send(guard, prompt(5, 6, 8), 42)
    assert send(guard, prompt(5, 9, 9), 40)


def test_a_reply_waits_for_the_prompt_in_flight_it_may_have_reused() -> None:
    import threading

    guard = PromptReuseGuard(ubatch=512)
    send(guard, prompt(1, 99), 0)  # shares the header and token 1
    round1 = guard.begin(prompt(1, 2, 3, 4))  # evaluated, its reply not read yet
    results: list[bool] = []
    later = threading.Thread(target=lambda: results.append(send(guard, prompt(1, 2, 3, 4, 5, 6), 44)))
    later.start()
    later.join(0.2)
    assert later.is_alive()  # waiting for round 1 to settle
    guard.end(round1, 41)
    later.join(5)
    assert results == [True]


def test_a_reply_that_reused_a_refused_prompt_is_refused() -> None:
    guard = PromptReuseGuard(ubatch=512, wait_seconds=5)
    send(guard, prompt(1, 99), 0)  # shares the header and token 1
    send(guard, prompt(1, 2, 3, 4, 9, 9), 0)  # a clean prompt that also explains the reuse below
    round1 = guard.begin(prompt(1, 2, 3, 4))
    assert not guard.end(round1, 43)  # the whole prompt but its last token: refused, poisoned from 43
    # only the poisoned prompt's slot can be wrong here, and it may be the one that served
    assert not send(guard, prompt(1, 2, 3, 4, 5, 6), 44)
    assert send(guard, prompt(1, 2, 3, 7, 7), 43)


def test_reuse_past_a_prompt_the_new_one_extends_is_refused() -> None:
    guard = PromptReuseGuard(ubatch=512)
    send(guard, prompt(1, 2, 7), 0)  # clean, and shares 43 tokens with the prompt below
    send(guard, prompt(1, 2), 0)  # the slot now holds prompt(1, 2) and its reply, say 7
    assert not send(guard, prompt(1, 2, 7, 8, 9), 43)


def test_a_last_token_evaluated_alone_is_not_a_clean_source() -> None:
    guard = PromptReuseGuard(ubatch=8)
    send(guard, prompt(1), 0)  # 41 tokens = 5 x 8 + 1: token 40 went through a one-row batch
    assert not send(guard, prompt(1, 2, 3, 4, 5, 6), 41)
    assert send(guard, prompt(1, 2, 3, 4, 5, 7), 40)


def threading_send(guard: PromptReuseGuard, ids: list[int], cached: int, out: list[bool]):  # type: ignore[no-untyped-def]
    import threading

    thread = threading.Thread(target=lambda: out.append(send(guard, ids, cached)))
    thread.start()
    return thread


def test_may_reuse_when_only_a_prefix_is_known() -> None:
    guard = PromptReuseGuard(ubatch=512)
    send(guard, prompt(1, 2, 3), 0)
    assert guard.may_reuse(prompt(4, 5, 6))
    assert guard.may_reuse(prompt(1, 2, 3, 4, 5))


# ---------------------------------------------------------------------------------------
# The backend's use of it, against a stand-in server that reports what it took from its cache


class StubServer:
    """Replies like llama.cpp's raw completion endpoint, reusing `cache_n` tokens when asked to."""

    def __init__(self, cache_n: int | None, error: str | None = None, text: str = "reply") -> None:
        self.cache_n, self.error, self.text = cache_n, error, text
        self.payloads: list[dict] = []

    def handle_completions(self, payload: dict) -> dict:
        self.payloads.append(payload)
        if self.error:
            return {"error": {"message": self.error}}
        cached = self.cache_n if payload["cache_prompt"] else 0
        reply = {"choices": [{"index": 0, "text": f"{self.text} {len(self.payloads)}"}],
                 "usage": {"prompt_tokens": len(payload["prompt"]), "completion_tokens": 2}}
        return reply if cached is None else {**reply, "timings": {"cache_n": cached}}


def stub_backend(server: StubServer, tokens: dict[str, list[int]]):  # type: ignore[no-untyped-def]
    import threading

    from clearft.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend.__new__(LlamaCppBackend)
    backend._server = server
    backend._lock = threading.Lock()
    backend._reuse = PromptReuseGuard(ubatch=512)
    backend.reuse_redone = 0
    backend.reproducible = True
    backend.concurrency = backend.in_flight = 1
    backend.context = 2048
    backend._gate = threading.BoundedSemaphore(1)
    backend.render_chat = lambda messages: messages[-1]["content"]  # type: ignore[method-assign]
    backend._post = lambda path, body: {"tokens": tokens[body["content"]]}  # type: ignore[method-assign]
    return backend


def test_the_backend_keeps_a_reply_the_guard_accepts() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=40)
    backend = stub_backend(server, {"one": prompt(1, 2, 3), "two": prompt(4, 5, 6)})
    send(backend._reuse, prompt(1, 2, 3), 0)
    out = backend.generate([GenerateRequest([{"role": "user", "content": "two"}], max_tokens=2)])[0]
    assert out.texts == ["reply 1"] and out.cached_prompt_tokens == 40
    assert [p["cache_prompt"] for p in server.payloads] == [True]
    assert server.payloads[0]["prompt"] == prompt(4, 5, 6)  # the token ids the guard saw
    assert backend.reuse_redone == 0


def test_the_backend_asks_again_afresh_when_the_guard_refuses() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=41)  # one token more than any known prompt shares
    backend = stub_backend(server, {"two": prompt(4, 5, 6)})
    send(backend._reuse, prompt(1, 2, 3), 0)
    out = backend.generate([GenerateRequest([{"role": "user", "content": "two"}], max_tokens=2)])[0]
    assert [p["cache_prompt"] for p in server.payloads] == [True, False]
    assert out.texts == ["reply 2"]
    # the refused attempt's tokens count too: 43 + 43 prompt tokens, 41 of them from the cache
    assert (out.prompt_tokens, out.cached_prompt_tokens, out.completion_tokens) == (86, 41, 4)
    assert backend.reuse_redone == 1


def test_the_backend_goes_afresh_at_once_for_a_prompt_it_just_sent() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=0)
    backend = stub_backend(server, {"one": prompt(1, 2, 3)})
    req = GenerateRequest([{"role": "user", "content": "one"}], max_tokens=2)
    backend.generate([req])
    backend.generate([req])  # the slot holds this very prompt: no attempt that would be wasted
    assert [p["cache_prompt"] for p in server.payloads] == [True, False]


def test_a_reply_that_does_not_say_what_it_reused_is_asked_again_afresh() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=None)
    backend = stub_backend(server, {"two": prompt(4, 5, 6)})
    send(backend._reuse, prompt(1, 2, 3), 0)
    out = backend.generate([GenerateRequest([{"role": "user", "content": "two"}], max_tokens=2)])[0]
    assert [p["cache_prompt"] for p in server.payloads] == [True, False] and out.texts == ["reply 2"]


def test_an_error_reply_is_reported_once_and_its_prompt_settled() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=40, error="the prompt is too long")
    backend = stub_backend(server, {"two": prompt(4, 5, 6)})
    send(backend._reuse, prompt(1, 2, 3), 0)
    out = backend.generate([GenerateRequest([{"role": "user", "content": "two"}], max_tokens=2)])[0]
    assert out.error == "the prompt is too long" and len(server.payloads) == 1
    assert not backend._reuse._in_flight


def test_a_thinking_models_reasoning_is_split_off_as_the_chat_endpoint_would() -> None:
    from clearft.backends.base import GenerateRequest

    server = StubServer(cache_n=0, text="<think>hmm</think>\n\nParis.")
    backend = stub_backend(server, {"two": prompt(4, 5, 6)})
    out = backend.generate([GenerateRequest([{"role": "user", "content": "two"}], max_tokens=2)])[0]
    assert out.texts == ["Paris. 1"]


def test_a_forced_log_likelihood_prompt_is_known_to_the_guard() -> None:
    """The forced path leaves its prompt and then one-row-decoded forced tokens in a slot: a
    later prompt continuing it must not reuse past its end, even where another clean prompt
    would explain that much reuse."""
    server = StubServer(cache_n=0)
    backend = stub_backend(server, {"P": prompt(1, 2)})
    send(backend._reuse, prompt(1, 2, 7, 9), 0)  # clean, shares 43 tokens with prompt(1, 2, 7, 8, ...)
    backend._forced_loglikelihood("P", [7])  # the slot: prompt(1, 2), then the forced 7
    assert server.payloads[0]["cache_prompt"] is False and not backend._reuse._in_flight
    assert not send(backend._reuse, prompt(1, 2, 7, 8, 8, 8), 43)
    assert send(backend._reuse, prompt(1, 2, 5, 5, 5), 42)


def test_calls_go_one_at_a_time_whoever_sends_them() -> None:
    """While reusing, no two calls reach the server at once, even from several callers'
    threads (a prompt evaluated beside another sequence is not exact after a cached prefix)."""
    import threading
    import time

    from clearft.backends.base import GenerateRequest

    class CountingServer(StubServer):
        def __init__(self) -> None:
            super().__init__(cache_n=0)
            self.active = self.most = 0
            self.count_lock = threading.Lock()

        def handle_completions(self, payload: dict) -> dict:
            with self.count_lock:
                self.active += 1
                self.most = max(self.most, self.active)
            time.sleep(0.01)
            with self.count_lock:
                self.active -= 1
            return super().handle_completions(payload)

    server = CountingServer()
    backend = stub_backend(server, {str(i): prompt(i) for i in range(8)})
    assert backend.capabilities.parallel_requests == 1
    requests = [GenerateRequest([{"role": "user", "content": str(i)}], max_tokens=2) for i in range(8)]
    threads = [threading.Thread(target=backend.generate, args=(requests[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.payloads) == 8 and server.most == 1


def test_reuse_is_the_default_unless_turned_off_or_calls_at_once_are_asked_for(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Any number of slots: reuse and one call at a time. CLEARFT_LLAMA_PROMPT_REUSE=0 (or
    false/off/no), or an explicit in_flight above 1: that many calls at once, no reuse."""
    import clearft.backends.llamacpp as llamacpp
    from clearft.errors import ClearftError

    started: list[bool] = []

    class Server:
        listening_address = "http://127.0.0.1:1"

    def fake_start(*_args, ram_prompt_cache: bool = True, **_kwargs):  # type: ignore[no-untyped-def]
        started.append(ram_prompt_cache)
        return Server()

    monkeypatch.setattr(llamacpp, "start_server", fake_start)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")

    def make(**kwargs):  # type: ignore[no-untyped-def]
        b = llamacpp.LlamaCppBackend(model, concurrency=8, **kwargs)
        return b._reuse is not None, b.in_flight

    monkeypatch.delenv("CLEARFT_LLAMA_PROMPT_REUSE", raising=False)
    assert make() == (True, 1) and started[-1] is False  # the RAM prompt cache off under the guard
    assert make(in_flight=4) == (False, 4) and started[-1] is True
    assert make(in_flight=1) == (True, 1)
    for off in ("0", "false", "OFF", "no"):
        monkeypatch.setenv("CLEARFT_LLAMA_PROMPT_REUSE", off)
        assert make() == (False, 8)
    monkeypatch.setenv("CLEARFT_LLAMA_PROMPT_REUSE", "1")
    assert make() == (True, 1)
    with pytest.raises(ClearftError, match="in_flight"):
        make(reuse_prompts=True, in_flight=4)
