"""The OpenAI-compatible backend: pure payload/parse functions by plain equality, the retry
layer against a scripted transport, then a real llama.cpp server on loopback (slow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clearft.backends.base import Completion, GenerateRequest
from clearft.backends.openai_backend import (
    OpenAIBackend,
    build_payload,
    parse_response,
    retry_delay,
)

CHAT = [{"role": "user", "content": "Say hi."}]


# ---------------------------------------------------------------------------------------
# Pure parts


def test_build_payload_one_sample_per_request() -> None:
    req = GenerateRequest(CHAT, n=3, temperature=0.8, max_tokens=20, stop=["\n\n"], seed=7, top_logprobs=4)
    assert build_payload(req, "m", sample=2) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Say hi."}],
        "temperature": 0.8,
        "max_tokens": 20,
        "n": 1,
        "seed": 9,
        "stop": ["\n\n"],
        "logprobs": True,
        "top_logprobs": 4,
    }


def test_build_payload_grouped_and_with_assistant_prefix() -> None:
    req = GenerateRequest(CHAT, n=3, seed=7, assistant_prefix="Answer:")
    assert build_payload(req, "m", sample=None, group=True) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Answer:"}],
        "temperature": 0.0,
        "max_tokens": 256,
        "n": 3,
        "seed": 7,
    }


def test_parse_response_texts_usage_and_first_token_logprobs() -> None:
    data = {
        "choices": [
            {"index": 1, "message": {"content": "B text"}, "logprobs": None},
            {"index": 0, "message": {"content": "A text"}, "logprobs": {"content": [
                {"token": "A", "logprob": -0.2, "top_logprobs": [
                    {"token": "A", "logprob": -0.2}, {"token": "B", "logprob": -1.9}]},
                {"token": " text", "logprob": -0.5, "top_logprobs": []},
            ]}},
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4},
    }
    assert parse_response(data, want_top=True) == Completion(
        texts=["A text", "B text"],
        first_token_logprobs=[{"A": -0.2, "B": -1.9}, {}],
        prompt_tokens=12,
        completion_tokens=4,
    )


def test_parse_response_strips_an_echoed_prefix_and_reads_errors() -> None:
    data = {"choices": [{"message": {"content": "Answer: yes"}}]}
    assert parse_response(data, assistant_prefix="Answer:").texts == [" yes"]
    assert parse_response({"error": {"message": "model not found"}}).error == "model not found"
    assert parse_response({"choices": []}).error is not None


def test_retry_delay_honours_retry_after_and_caps_backoff() -> None:
    assert retry_delay(0, "3", base=1.0, cap=60.0) == 3.0
    assert retry_delay(0, "120", base=1.0, cap=60.0) == 60.0
    for attempt in range(8):
        d = retry_delay(attempt, None, base=0.5, cap=10.0)
        assert min(10.0, 0.5 * 2**attempt) / 2 <= d <= min(10.0, 0.5 * 2**attempt)
    assert 0 < retry_delay(1, "Wed, 21 Oct 2015 07:28:00 GMT", base=1.0, cap=60.0) <= 2.0


# ---------------------------------------------------------------------------------------
# The I/O layer against a scripted transport

OK_REPLY = {"choices": [{"index": 0, "message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def scripted(replies: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return replies.pop(0) if replies else httpx.Response(200, json=OK_REPLY)

    return httpx.MockTransport(handle)


def backend(transport: httpx.MockTransport, **kw: object) -> OpenAIBackend:
    return OpenAIBackend(base_url="http://server/v1", model="m", transport=transport, backoff=0.001, **kw)  # type: ignore[arg-type]


def test_retries_on_429_and_5xx_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    replies = [httpx.Response(429, headers={"Retry-After": "0.01"}), httpx.Response(503)]
    b = backend(scripted(replies, seen))
    out = b.generate([GenerateRequest(CHAT)])
    assert out[0].texts == ["hi"] and len(seen) == 3 and b.retries == 2
    assert seen[0].url == "http://server/v1/chat/completions"


def test_a_client_error_is_not_retried_and_becomes_an_error_result() -> None:
    seen: list[httpx.Request] = []
    b = backend(scripted([httpx.Response(400, json={"error": "bad request"})], seen))
    out = b.generate([GenerateRequest(CHAT)])
    assert not out[0].ok and "HTTP 400" in (out[0].error or "") and len(seen) == 1


def test_gives_up_after_max_retries_without_raising() -> None:
    seen: list[httpx.Request] = []
    b = backend(scripted([httpx.Response(500)] * 10, seen), max_retries=2)
    out = b.generate([GenerateRequest(CHAT), GenerateRequest(CHAT, seed=1)])
    assert all(not c.ok for c in out) and len(seen) == 6


def test_connection_errors_are_retried() -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=OK_REPLY)

    b = backend(httpx.MockTransport(handle))
    assert b.generate([GenerateRequest(CHAT)])[0].ok and calls["n"] == 2


def test_samples_are_separate_requests_with_seed_plus_i() -> None:
    seen: list[httpx.Request] = []
    b = backend(scripted([], seen), concurrency=1, server_kind="llamacpp")
    out = b.generate([GenerateRequest(CHAT, n=3, temperature=1.0, seed=5)])
    assert len(out[0].texts) == 3
    assert sorted(json.loads(r.content)["seed"] for r in seen) == [5, 6, 7]
    assert b.capabilities.seeded_sampling and not b.capabilities.loglikelihood


def test_a_server_refusing_n_is_probed_once_then_asked_one_sample_at_a_time() -> None:
    """Older llama.cpp servers answer n=2 with HTTP 500 "Only one completion choice is allowed":
    the probe asks three times (a 500 may pass), then takes it as the answer."""
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if body["n"] != 1:
            return httpx.Response(500, json={"error": {"code": 500, "message": "Only one completion choice is allowed"}})
        return httpx.Response(200, json=OK_REPLY)

    b = backend(httpx.MockTransport(handle))
    for _ in range(2):
        out = b.generate([GenerateRequest(CHAT, n=3, temperature=1.0, seed=5)])
        assert out[0].texts == ["hi"] * 3
    probes = [body for body in seen if body["n"] == 2]
    assert len(probes) == 3 and sorted(body["seed"] for body in seen if body["n"] == 1) == [5, 5, 6, 6, 7, 7]
    server = b.describe()["server"]
    assert server["n"] is False and server["per_sample_seeds"] is True and b.capabilities.seeded_sampling
    assert "Only one completion choice" in server["evidence"]["n"]


def test_grouped_samples_are_one_request() -> None:
    seen: list[httpx.Request] = []
    reply = {"choices": [{"index": i, "message": {"content": str(i)}} for i in range(3)]}
    b = backend(scripted([httpx.Response(200, json=reply)], seen), group_samples=True)
    out = b.generate([GenerateRequest(CHAT, n=3, temperature=1.0)])
    assert out[0].texts == ["0", "1", "2"] and len(seen) == 1
    assert not b.capabilities.seeded_sampling


def test_a_prefill_probe_without_an_answer_fails_only_the_requests_that_need_it() -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:  # the probe's two attempts
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=OK_REPLY)

    b = backend(httpx.MockTransport(handle), max_retries=1)
    out = b.generate([GenerateRequest(CHAT, assistant_prefix="answer:"), GenerateRequest(CHAT)])
    assert "cannot tell how this server takes a prefix" in (out[0].error or "") and out[1].texts == ["hi"]
    assert b.describe()["server"]["prefill"] is None  # not recorded: asked again
    out = b.generate([GenerateRequest(CHAT, assistant_prefix="answer:")])
    assert out[0].ok and b.describe()["server"]["prefill"] == "none"  # "hi" continues nothing
    assert calls["n"] == 6  # 2 failed attempts, 1 request; 2 probes (plain, vLLM's way), 1 request


def test_a_probe_still_throttled_after_every_retry_is_no_answer() -> None:
    seen: list[httpx.Request] = []
    b = backend(scripted([httpx.Response(429)] * 3, seen), max_retries=2)
    out = b.generate([GenerateRequest(CHAT, n=2)])  # the n probe: 429, 429, 429
    assert b.describe()["server"]["n"] is None  # not taken for "n is not honoured"
    assert out[0].texts == ["hi", "hi"] and len(seen) == 5  # meanwhile one request per sample


def test_the_api_key_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("MY_KEY", secret)
    seen: list[httpx.Request] = []
    # A hostile server echoes the key back in its error body.
    b = backend(scripted([httpx.Response(401, text=f"bad key {secret}")], seen), api_key_env="MY_KEY")
    out = b.generate([GenerateRequest(CHAT)])
    assert seen[0].headers["authorization"] == f"Bearer {secret}"
    assert secret not in (out[0].error or "") and "***" in (out[0].error or "")
    assert secret not in repr(b) and secret not in json.dumps(b.describe())


def test_a_key_echoed_in_a_probe_reply_stays_out_of_the_description(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef0123456789abcdef0123"  # longer than the 40 kept characters
    monkeypatch.setenv("MY_KEY", secret)
    echo = {"choices": [{"index": 0, "message": {"content": f"{secret} is what you sent"}}]}
    b = backend(httpx.MockTransport(lambda r: httpx.Response(200, json=echo)), api_key_env="MY_KEY")
    b.generate([GenerateRequest(CHAT, assistant_prefix="answer:")])
    described = json.dumps(b.describe())
    assert "prefill_plain" in described and secret[:12] not in described


def test_openais_own_api_is_known_by_its_address_and_not_probed() -> None:
    seen: list[httpx.Request] = []
    b = OpenAIBackend(base_url="https://api.openai.com/v1", model="m", transport=scripted([], seen))
    b.generate([GenerateRequest(CHAT, n=2, assistant_prefix="answer:", top_logprobs=5)])
    body = json.loads(seen[0].content)
    assert len(seen) == 1 and body["n"] == 2 and [m["role"] for m in body["messages"]] == ["user"]
    server = b.describe()["server"]
    assert (server["kind"], server["source"], server["probe_requests"]) == ("openai", "base_url", 0)


def test_no_key_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    seen: list[httpx.Request] = []
    backend(scripted([], seen)).generate([GenerateRequest(CHAT)])
    assert "authorization" not in seen[0].headers


def test_loglikelihood_is_refused_before_a_run() -> None:
    from clearft.errors import CapabilityError

    b = backend(scripted([], []))
    with pytest.raises(CapabilityError):
        b.require("loglikelihood", purpose="scoring by label probability")


# ---------------------------------------------------------------------------------------
# A real llama.cpp server on loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "clearft.backends.llamacpp_server", "--port", str(port), "--parallel", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the llama.cpp server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the llama.cpp server did not come up in 120 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = free_port()
    proc = start_server(port)
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)


@pytest.mark.slow
@pytest.mark.network
def test_generate_against_a_real_server(server_url: str) -> None:
    b = OpenAIBackend(base_url=server_url, model="smollm2", concurrency=4)
    reqs = [
        GenerateRequest(CHAT, max_tokens=8),
        GenerateRequest(CHAT, n=2, temperature=1.0, max_tokens=8, seed=11),
        GenerateRequest([{"role": "user", "content": "Pick A, B or C."}], max_tokens=1, top_logprobs=3),
    ]
    out = b.generate(reqs)
    assert all(c.ok for c in out), [c.error for c in out]
    assert out[0].texts[0].strip() and out[0].completion_tokens > 0
    assert len(out[1].texts) == 2
    assert out[1].texts == b.generate([reqs[1]])[0].texts  # seeded: reproducible
    top = out[2].first_token_logprobs[0]  # type: ignore[index]
    assert len(top) == 3 and all(lp <= 0 for lp in top.values())
    b.close()


@pytest.mark.slow
@pytest.mark.network
def test_auto_finds_how_the_real_llamacpp_server_takes_a_prefix(server_url: str) -> None:
    from clearft.scoring.prompts import ANSWER_PREFIX, reflection_messages

    b = OpenAIBackend(base_url=server_url, model="smollm2")
    req = GenerateRequest(reflection_messages("What is 2+2?", "4", 0, letter_first=True), max_tokens=1,
                          top_logprobs=10, assistant_prefix=ANSWER_PREFIX)
    out = b.generate([req])
    assert out[0].ok, out[0].error
    server = b.describe()["server"]
    assert (server["kind"], server["prefill"], server["logprobs"]) == ("llamacpp", "plain", True)
    assert not out[0].texts[0].startswith(ANSWER_PREFIX)  # an echoed prefix is cut off
    assert out[0].first_token_logprobs and len(out[0].first_token_logprobs[0]) == 10  # read after it
    b.close()


class AnswerCountingBackend(OpenAIBackend):
    """Signals the first answered call, so a test can kill the server mid-run on an event
    rather than after a guessed sleep (a fast machine finished the run within one second)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.first_answer = threading.Event()
        self.answers = 0

    def post_with_retries(self, path: str, payload: dict[str, object]) -> tuple[dict[str, object] | None, str]:
        data, error = super().post_with_retries(path, payload)  # type: ignore[arg-type]
        if data is not None:
            with self._lock:
                self.answers += 1
            self.first_answer.set()
        return data, error  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.network
def test_a_server_killed_mid_run_and_restarted_loses_no_request() -> None:
    port = free_port()
    proc = start_server(port)
    b = AnswerCountingBackend(base_url=f"http://127.0.0.1:{port}/v1", model="smollm2", concurrency=2,
                              backoff=0.2, max_backoff=2.0, max_retries=300, timeout=120)
    n = 12
    reqs = [GenerateRequest([{"role": "user", "content": f"Tell me a fact about the number {k}."}],
                            max_tokens=32, temperature=1.0, seed=k) for k in range(n)]
    result: list[list[Completion]] = []
    # daemon: if the test fails, a worker still retrying must not keep pytest alive
    worker = threading.Thread(target=lambda: result.append(b.generate(reqs)), daemon=True)
    try:
        worker.start()
        # Kill once the server has answered one call: at concurrency 2 the next ones are then
        # in flight or queued, however fast or slow this machine is.
        assert b.first_answer.wait(timeout=600), "the server never answered"
        stop(proc)  # SIGKILL: in-flight requests lose their connection
        answered_before_kill = b.answers
        assert answered_before_kill < n, "the run finished before the kill"
        time.sleep(1.0)
        proc = start_server(port)
        worker.join(timeout=600)  # a contended CI machine can be very slow
    finally:
        stop(proc)
    assert not worker.is_alive()
    out = result[0]
    assert all(c.ok for c in out), [c.error for c in out]
    assert all(c.texts[0] for c in out)
    assert b.retries > 0  # the kill really hit the run
    assert b.answers == n  # each request answered exactly once in the end


def test_server_launcher_help_is_fast() -> None:
    out = subprocess.run([sys.executable, "-m", "clearft.backends.llamacpp_server", "--help"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")})
    assert out.returncode == 0 and "--port" in out.stdout
