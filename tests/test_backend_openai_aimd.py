"""Adaptive concurrency (issue 15): the AIMD arithmetic without threads, the gate with
threads, then the backend against a loopback server that answers 429 to some requests:
every completion comes back, each request answered once, the limit halved."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clearft.backends.aimd import AIMD, CONGESTION, OK
from clearft.backends.base import GenerateRequest
from clearft.backends.openai_backend import OpenAIBackend


def test_slow_start_doubles_to_16_then_one_per_success() -> None:
    gate = AIMD(start=4, slow_start_until=16, maximum=256)
    for _ in range(3):
        gate.on_success()
    assert gate.limit == 4  # a window of 4 successes before the first doubling
    gate.on_success()
    assert gate.limit == 8
    for _ in range(8):
        gate.on_success()
    assert gate.limit == 16
    gate.on_success()
    gate.on_success()
    assert gate.limit == 18


def test_congestion_halves_once_per_window_and_ends_slow_start() -> None:
    gate = AIMD(start=4)
    for _ in range(12):
        gate.on_success()
    assert gate.limit == 16
    epoch = gate.epoch
    assert gate.on_congestion(epoch) and gate.limit == 8
    # Sent before that halving: it throttled with the others, it does not halve again.
    assert not gate.on_congestion(epoch) and gate.limit == 8
    gate.on_success()
    assert gate.limit == 9  # no second slow start: +1 per success
    assert gate.on_congestion(gate.epoch) and gate.limit == 4
    for _ in range(5):
        gate.on_congestion(gate.epoch)
    assert gate.limit == 1  # never below one
    assert gate.snapshot()["halvings"] == 7 and gate.snapshot()["congestion_signals"] == 8


def test_the_limit_never_passes_the_maximum() -> None:
    gate = AIMD(start=4, maximum=10)
    for _ in range(100):
        gate.on_success()
    assert gate.limit == 10 and gate.snapshot()["peak_limit"] == 10
    assert AIMD(start=50, maximum=10).limit == 10


def test_the_gate_holds_a_request_past_the_limit_until_a_slot_frees() -> None:
    gate = AIMD(start=2)
    epochs = [gate.acquire(), gate.acquire()]
    got = threading.Event()

    def third() -> None:
        gate.acquire()
        got.set()

    worker = threading.Thread(target=third, daemon=True)
    worker.start()
    assert not got.wait(0.2)  # both slots are taken: it waits (however long we look)
    gate.release(epochs[0], CONGESTION)  # halved to 1: one in flight is already at the limit
    assert gate.limit == 1 and not got.wait(0.2)
    gate.release(epochs[1], OK)  # limit 1 -> 2 (one success: +1 once slow start is over)
    assert got.wait(30)
    worker.join(30)
    assert gate.in_flight == 1 and gate.snapshot()["peak_in_flight"] == 2


# ---------------------------------------------------------------------------------------
# End to end


class Throttling:
    """Answers every chat request with its prompt's number, but the first attempt of every
    third prompt gets 429 (Retry-After: 0)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.throttled = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prompt = body["messages"][-1]["content"]
        number = int(prompt.split()[-1])
        with self.lock:
            self.attempts[prompt] += 1
            if number % 3 == 0 and self.attempts[prompt] == 1:
                self.throttled += 1
                return 429, {"error": {"message": "rate limit reached"}}
            self.answered[prompt] += 1
        return 200, {"choices": [{"index": 0, "message": {"content": f"reply {number}"}}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 2}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                status, data = server.answer(body)
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(raw)

        return Handler


@pytest.fixture
def throttling() -> Iterator[Throttling]:
    server = Throttling()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.mark.network
def test_throttled_requests_are_retried_and_halve_the_limit(throttling: Throttling) -> None:
    backend = OpenAIBackend(base_url=throttling.url, model="m", backoff=0.001, max_retries=3)
    n = 60
    reqs = [GenerateRequest([{"role": "user", "content": f"Tell me about {k}"}], seed=k) for k in range(n)]
    out = backend.generate(reqs)
    assert [c.texts for c in out] == [[f"reply {k}"] for k in range(n)]  # all, in order
    assert throttling.throttled == 20 and len(throttling.answered) == n
    assert set(throttling.answered.values()) == {1}  # each answered exactly once
    snap = backend.describe()["concurrency"]
    assert snap["congestion_signals"] == 20 and snap["halvings"] >= 1
    assert backend.retries == 20 and backend.usage()["requests"] == n
    backend.close()


def test_the_connection_pool_is_sized_to_the_maximum() -> None:
    for maximum in (64, 256):
        backend = OpenAIBackend(base_url="http://server/v1", model="m", max_concurrency=maximum)
        pool = backend._http()._transport._pool  # httpcore's pool, built from httpx.Limits
        assert (pool._max_connections, pool._max_keepalive_connections) == (maximum, maximum)
        assert backend.gate.maximum == maximum and backend.gate.limit == 4
        backend.close()
