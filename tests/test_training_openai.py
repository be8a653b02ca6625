"""OpenAI fine-tuning jobs flow, against a local server speaking the same files/jobs API.

Nothing here reaches the real service: the server below runs on 127.0.0.1 and answers like
the OpenAI API (upload a file, create a job, report its status and events)."""

from __future__ import annotations

import email.parser
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clearft.data.example import Example
from clearft.errors import BackendError
from clearft.training.openai_jobs import STATE_FILE, finetune_openai

pytestmark = pytest.mark.network


class FakeOpenAI:
    """State of the fake service: uploaded files, jobs, and every request seen."""

    def __init__(self, fail: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail = fail

    def job_object(self, job: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": job["id"], "object": "fine_tuning.job", "created_at": 1700000000,
            "model": job["model"], "status": job["status"], "training_file": job["training_file"],
            "fine_tuned_model": job.get("fine_tuned_model"), "finished_at": None,
            "hyperparameters": {"n_epochs": "auto"}, "organization_id": "org-local",
            "result_files": [], "seed": job.get("seed", 0), "trained_tokens": None,
            "validation_file": None, "error": job.get("error"),
        }

    def advance(self, job: dict[str, Any]) -> None:
        """Each status poll moves the job one step: validating -> running -> final."""
        order = ["validating_files", "running", "failed" if self.fail else "succeeded"]
        i = order.index(job["status"]) if job["status"] in order else len(order) - 1
        job["status"] = order[min(i + 1, len(order) - 1)]
        job["events"].append(f"status: {job['status']}")
        if job["status"] == "succeeded":
            job["fine_tuned_model"] = f"ft:{job['model']}:local::{job['id']}"
        if job["status"] == "failed":
            job["error"] = {"code": "invalid_file", "message": "training file has 1 bad line",
                            "param": None}


def make_handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/files":
                msg = email.parser.BytesParser().parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                parts = {p.get_param("name", header="content-disposition"): p for p in msg.get_payload()}
                if parts["purpose"].get_payload() != "fine-tune":
                    return self._send(400, {"error": {"message": "bad purpose"}})
                file_id = f"file-{len(state.files) + 1}"
                state.files[file_id] = parts["file"].get_payload(decode=True)
                return self._send(200, {"id": file_id, "object": "file", "bytes": len(state.files[file_id]),
                                        "created_at": 1700000000, "filename": "train.jsonl",
                                        "purpose": "fine-tune", "status": "processed"})
            if self.path == "/v1/fine_tuning/jobs":
                req = json.loads(body)
                if req["training_file"] not in state.files:
                    return self._send(400, {"error": {"message": "no such file"}})
                job_id = f"ftjob-{len(state.jobs) + 1}"
                state.jobs[job_id] = {"id": job_id, "model": req["model"], "status": "validating_files",
                                      "training_file": req["training_file"], "seed": req.get("seed"),
                                      "method": req.get("method"), "events": ["job created"]}
                return self._send(200, state.job_object(state.jobs[job_id]))
            self._send(404, {"error": {"message": "not found"}})

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path.split("?")[0]))
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:3] == ["v1", "fine_tuning", "jobs"] and len(parts) >= 4 and parts[3] in state.jobs:
                job = state.jobs[parts[3]]
                if len(parts) == 5 and parts[4] == "events":
                    events = [{"id": f"{job['id']}-ev{i}", "object": "fine_tuning.job.event",
                               "created_at": 1700000000 + i, "level": "info", "message": m}
                              for i, m in enumerate(job["events"])]
                    return self._send(200, {"object": "list", "data": events[::-1], "has_more": False})
                state.advance(job)
                return self._send(200, state.job_object(job))
            self._send(404, {"error": {"message": "not found"}})

    return Handler


@pytest.fixture
def service() -> Iterator[tuple[FakeOpenAI, str]]:
    state = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


EXAMPLES = [
    Example(id="1", messages=[{"role": "user", "content": "Sentiment: sales rose"}], response="positive"),
    Example(id="2", messages=[{"role": "user", "content": "Sentiment: profit fell"}], response="negative"),
]


def test_upload_create_follow_and_return_the_model_id(service: tuple[FakeOpenAI, str],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    state, url = service
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no key
    events: list[str] = []
    model_id = finetune_openai(EXAMPLES, "gpt-4o-mini-2024-07-18", tmp_path, base_url=url,
                               hyperparameters={"n_epochs": 2}, poll_seconds=0.01,
                               on_event=events.append)
    assert model_id == "ft:gpt-4o-mini-2024-07-18:local::ftjob-1"
    uploaded = [json.loads(line) for line in state.files["file-1"].decode().splitlines()]
    assert uploaded[0] == {"messages": [{"role": "user", "content": "Sentiment: sales rose"},
                                        {"role": "assistant", "content": "positive"}]}
    job = state.jobs["ftjob-1"]
    assert job["method"] == {"type": "supervised",
                             "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert job["seed"] == 0
    assert any("succeeded" in e for e in events)
    assert len([e for e in events if e.endswith("job created")]) == 1  # each event once
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved["status"] == "succeeded" and saved["fine_tuned_model"] == model_id

    # A rerun reuses the finished job: no upload, no new job, no polling.
    before = len(state.requests)
    assert finetune_openai(EXAMPLES, "gpt-4o-mini-2024-07-18", tmp_path, base_url=url) == model_id
    assert len(state.requests) == before


def test_a_rerun_follows_the_job_it_already_created(service: tuple[FakeOpenAI, str],
                                                    tmp_path: Path) -> None:
    state, url = service
    with pytest.raises(BackendError, match="still"):  # gave up following, job still running
        finetune_openai(EXAMPLES, "gpt-4o-mini", tmp_path, base_url=url, poll_seconds=0.05,
                        timeout_s=0.0, on_event=None)
    assert len(state.jobs) == 1
    time.sleep(0.01)
    model_id = finetune_openai(EXAMPLES, "gpt-4o-mini", tmp_path, base_url=url, poll_seconds=0.01,
                               on_event=None)
    assert model_id == "ft:gpt-4o-mini:local::ftjob-1"
    assert len(state.jobs) == 1 and len(state.files) == 1  # nothing paid for twice


def test_a_failed_job_raises_with_the_service_message(service: tuple[FakeOpenAI, str],
                                                      tmp_path: Path) -> None:
    state, url = service
    state.fail = True
    with pytest.raises(BackendError, match="failed: training file has 1 bad line"):
        finetune_openai(EXAMPLES, "gpt-4o-mini", tmp_path, base_url=url, poll_seconds=0.01,
                        on_event=None)


def test_cli_finetune_openai(service: tuple[FakeOpenAI, str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from clearft.cli.main import main

    state, url = service
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "2+2?", "response": "4"}\n')
    code = main(["finetune", str(data), "-o", str(tmp_path / "job"), "--openai-model", "gpt-4o-mini",
                 "--base-url", url])
    assert code == 0
    assert "fine-tuned model: ft:gpt-4o-mini:local::ftjob-1" in capsys.readouterr().out
