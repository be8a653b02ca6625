"""An unreliable server for the fault tests: an HTTP proxy on 127.0.0.1 in front of an
OpenAI-compatible server that, by a seeded schedule, drops connections, answers 429 with
Retry-After, answers 500, answers garbage that is not JSON, or hangs.

    python tests/faultproxy.py --port P --upstream http://127.0.0.1:U --seed 3 --rate 0.4 \\
        --log faults.jsonl [--poison TEXT] [--hang 3]

* --upstream fake: no upstream; a built-in stand-in answers every chat request at once
  ("explanation: ... answer: A", with first-token log-probabilities), for fast tests.
* The n-th request the proxy receives gets fault schedule[n] (seeded random; None = pass).
* --poison TEXT: every request whose body contains TEXT gets a 500, every time: the row it
  belongs to can never be scored and must end as an error record.
* --log: one JSON line per request: its number, the fault applied, a hash of its body, the
  upstream status. The test reads it to count faults injected and requests forwarded.

A separate process on purpose: the client under test sees real sockets, real resets and
real timeouts, exactly as from a flaky server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("drop", "429", "500", "garbage", "hang")


def schedule(seed: int, rate: float, kinds: tuple[str, ...], length: int = 100_000) -> list[str | None]:
    """The fault of each request, by arrival order (pure: the same seed, the same faults)."""
    rng = random.Random(seed)
    return [rng.choice(kinds) if rng.random() < rate else None for _ in range(length)]


def fake_reply(body: dict[str, Any]) -> dict[str, Any]:
    top = [{"token": "A", "logprob": -0.2}, {"token": "B", "logprob": -1.9}, {"token": "C", "logprob": -3.0}]
    return {
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "explanation: looks right. answer: A"},
                     "logprobs": {"content": [{"token": "A", "logprob": -0.2, "top_logprobs": top}]}}],
        "usage": {"prompt_tokens": len(json.dumps(body.get("messages", []))) // 4, "completion_tokens": 8},
    }


class Proxy:
    def __init__(self, upstream: str, plan: list[str | None], poison: str | None, hang: float,
                 log_path: str | None) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.poison = poison
        self.hang = hang
        self.log_path = log_path
        self.count = 0
        self.lock = threading.Lock()

    def next_fault(self, raw: bytes) -> tuple[int, str | None]:
        with self.lock:
            n = self.count
            self.count += 1
        if self.poison and self.poison.encode() in raw:
            return n, "poison"
        return n, self.plan[n % len(self.plan)]

    def log(self, entry: dict[str, Any]) -> None:
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()

    def forward(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.upstream == "fake":
            return 200, json.dumps(fake_reply(json.loads(raw))).encode()
        req = urllib.request.Request(self.upstream + path, data=raw, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def make_handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # /health, passed through
            self.reply(200, b'{"status": "ok"}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            n, fault = proxy.next_fault(raw)
            entry: dict[str, Any] = {"n": n, "fault": fault, "body": hashlib.sha1(raw).hexdigest()[:16]}
            auth = self.headers.get("Authorization")
            if auth:  # recorded as seen, never its value: the secrets test reads this log
                entry["authorization"] = "present"
            try:
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif fault == "429":
                    self.reply(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
                elif fault in ("500", "poison"):
                    self.reply(500, b'{"error": {"message": "internal error"}}')
                elif fault == "garbage":
                    self.reply(200, b'{"choices": [{"index": 0, "message": <html>Bad Gateway')
                elif fault == "hang":
                    time.sleep(proxy.hang)  # past the client's timeout; then drop
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:
                    status, body = proxy.forward(self.path, raw, {"Authorization": auth} if auth else {})
                    entry["upstream_status"] = status
                    self.reply(status, body)
            except OSError as exc:  # the client gave up first (its timeout): nothing to do
                entry["client_gone"] = type(exc).__name__
            proxy.log(entry)

        def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tests/faultproxy.py")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True,
                   help="root URL of the real server (requests keep their path, /v1/...), or 'fake'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=0.3, help="share of requests that get a fault")
    p.add_argument("--faults", default=",".join(FAULTS), help="kinds to draw from")
    p.add_argument("--poison", default=None)
    p.add_argument("--hang", type=float, default=3.0, help="seconds a hang lasts")
    p.add_argument("--log", default=None)
    args = p.parse_args(argv)
    kinds = tuple(k for k in args.faults.split(",") if k)
    assert all(k in FAULTS for k in kinds), kinds
    proxy = Proxy(args.upstream, schedule(args.seed, args.rate, kinds), args.poison, args.hang, args.log)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(proxy))
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
