"""Unreliable servers and secrets (issue 7): the OpenAI-compatible backend against a real
proxy process (tests/faultproxy.py) that drops connections, answers 429 with Retry-After,
500, garbage that is not JSON, and hangs, by a seeded schedule. The run must finish with
every row scored exactly once; a row whose calls keep failing ends as an error record.

Fast tests put the proxy in front of a built-in stand-in server; the slow one in front of
the real llama.cpp server with the embedded model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clearft.backends.openai_backend import OpenAIBackend
from clearft.data import write_records
from clearft.scoring import make_config, score_file

from .test_backend_openai import free_port, start_server, stop

PROXY = Path(__file__).with_name("faultproxy.py")
POISON = "POISON-ROW"


def start_proxy(upstream: str, log: Path, *, seed: int, rate: float, faults: str = "drop,429,500,garbage,hang",
                poison: str | None = POISON, hang: float = 2.0) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, str(PROXY), "--port", str(port), "--upstream", upstream, "--seed", str(seed),
           "--rate", str(rate), "--faults", faults, "--hang", str(hang), "--log", str(log)]
    if poison:
        cmd += ["--poison", poison]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the fault proxy did not come up")


@pytest.fixture
def proxies() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc)


def dataset(path: Path, n: int, poison_at: int | None) -> list[str]:
    rows = [{"id": f"r{i}", "prompt": f"Is {i} an even number? Answer yes or no.",
             "response": "yes" if i % 2 == 0 else "no"} for i in range(n)]
    if poison_at is not None:
        rows[poison_at]["prompt"] += f" {POISON}"
    write_records(path, rows)
    return [r["id"] for r in rows]


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_every_row_once(out: Path, ids: list[str], poisoned: set[str],
                         model_may_not_parse: bool = False) -> dict[str, int]:
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    seen = Counter(r["id"] for r in rows)
    lost = len(set(ids) - set(seen))
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    assert lost == 0 and duplicated == 0, (lost, duplicated)
    assert [r["id"] for r in rows] == ids  # in input order
    errors = {r["id"]: r["clearft_error"] for r in rows if r["clearft_error"]}
    if model_may_not_parse:  # a real small model's reply may hold no letter: not a transport fault
        errors = {k: e for k, e in errors.items() if not e.startswith("no parseable model output")}
    assert set(errors) == poisoned, errors
    for rid in poisoned:
        assert "HTTP 500" in errors[rid] and "attempts" in errors[rid]
    if not model_may_not_parse:
        assert all(r["confidence"] is not None for r in rows if r["id"] not in poisoned)
    return {"rows": len(rows), "lost": lost, "duplicated": duplicated, "error_records": len(errors)}


def write_stats(name: str, stats: dict[str, Any]) -> None:
    target = os.environ.get("CLEARFT_FAULT_STATS")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, **stats}) + "\n")


@pytest.mark.network
@pytest.mark.parametrize("seed", [1, 2])
def test_flaky_server_every_row_scored_once_and_a_hopeless_row_is_an_error_record(tmp_path, proxies, seed):
    data = tmp_path / "data.jsonl"
    ids = dataset(data, 60, poison_at=17)
    log = tmp_path / "proxy.jsonl"
    proc, url = start_proxy("fake", log, seed=seed, rate=0.4, hang=2.0)
    proxies.append(proc)
    backend = OpenAIBackend(base_url=url, model="stand-in", concurrency=4, timeout=1.0,
                            max_retries=12, backoff=0.01, max_backoff=0.05)
    out = tmp_path / "scored.jsonl"
    summary = score_file(data, out, backend, make_config("base", method="bsdetector", batch_size=8),
                         progress=False)
    backend.close()
    stats = check_every_row_once(out, ids, {"r17"})
    assert summary.rows == 60 and summary.failed == 1
    faults = Counter(e["fault"] for e in read_log(log) if e["fault"] not in (None, "poison"))
    assert set(faults) == {"drop", "429", "500", "garbage", "hang"}, faults  # each kind really hit
    assert backend.retries >= sum(faults.values())
    # the hopeless row: asked 1 + max_retries times, never more
    assert sum(1 for e in read_log(log) if e["fault"] == "poison") == 13
    write_stats(f"flaky server, stand-in upstream, seed {seed}",
                {**stats, "faults": sum(faults.values()), "by_kind": dict(faults), "runs": 1})


@pytest.mark.network
def test_the_api_key_appears_in_no_output_log_cache_meta_or_report(tmp_path, proxies):
    secret = "sk-test-SECRET123"
    data = tmp_path / "data.jsonl"
    dataset(data, 12, poison_at=None)
    log = tmp_path / "proxy.jsonl"
    proc, url = start_proxy("fake", log, seed=5, rate=0.3, faults="429", poison=None)
    proxies.append(proc)
    env = {**os.environ, "OPENAI_API_KEY": secret}
    out, cache = tmp_path / "scored.jsonl", tmp_path / "calls.sqlite"
    score = subprocess.run(
        [sys.executable, "-m", "clearft.cli.main", "score", str(data), "-o", str(out), "--backend", "openai",
         "--base-url", url, "--model", "stand-in", "--preset", "base", "--method", "bsdetector",
         "--cache", str(cache)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert score.returncode == 0, score.stderr
    report = subprocess.run(
        [sys.executable, "-m", "clearft.cli.main", "report", str(out), "-o", str(tmp_path / "report.html")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert report.returncode == 0, report.stderr
    entries = read_log(log)
    assert entries and all(e.get("authorization") == "present" for e in entries)  # it was sent
    assert any(e["fault"] == "429" for e in entries)  # and retried past 429s
    for text in (score.stdout, score.stderr, report.stdout, report.stderr):
        assert "SECRET123" not in text
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {out.name, f"{out.name}.meta.json", "report.html", cache.name} <= {p.name for p in files}
    for p in files:
        assert b"SECRET123" not in p.read_bytes(), p


@pytest.mark.slow
@pytest.mark.network
def test_flaky_proxy_in_front_of_the_real_llamacpp_server(tmp_path, proxies):
    data = tmp_path / "data.jsonl"
    ids = dataset(data, 3, poison_at=2)
    port = free_port()
    server = start_server(port)
    proxies.append(server)
    log = tmp_path / "proxy.jsonl"
    # Hangs are left to the fast test: on a busy 2-core machine a real reply can take as
    # long as a hang, and the client's timeout cannot tell them apart.
    proc, url = start_proxy(f"http://127.0.0.1:{port}", log, seed=3, rate=0.5,
                            faults="drop,429,500,garbage")
    proxies.append(proc)
    backend = OpenAIBackend(base_url=url, model="smollm2", concurrency=2, timeout=120,
                            max_retries=8, backoff=0.01, max_backoff=0.05)
    out = tmp_path / "scored.jsonl"
    config = make_config("base", method="bsdetector", batch_size=3, max_retries=0)
    score_file(data, out, backend, config, progress=False)
    backend.close()
    stats = check_every_row_once(out, ids, {"r2"}, model_may_not_parse=True)
    entries = read_log(log)
    faults = Counter(e["fault"] for e in entries if e["fault"] not in (None, "poison"))
    assert sum(faults.values()) >= 2, faults
    assert any(e.get("upstream_status") == 200 for e in entries)  # the real server answered
    write_stats("flaky server, real llama.cpp upstream",
                {**stats, "faults": sum(faults.values()), "by_kind": dict(faults), "runs": 1})
