"""`clearft review --serve`: the page on 127.0.0.1, decisions appended as they are made, the
write endpoint guarded (token, Host, Origin, content type), a killed server losing nothing."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main
from clearft.errors import ClearftError
from clearft.review.serve import ReviewServer, serve_queue

from .test_report_fixtures import XSS, evidence_corrected_record, write_jsonl
from .test_review_queue import hostile_file

pytestmark = pytest.mark.network


def data_file(tmp: Path) -> Path:
    return write_jsonl(tmp / "data.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(5)])


def start(server: ReviewServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ReviewServer, Path, Path]]:
    data = data_file(tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    server = serve_queue(data, decisions, limit=5, port=0)
    thread = start(server)
    yield server, data, decisions
    server.shutdown()
    server.server_close()
    thread.join(5)


def request(server: ReviewServer, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode("utf-8")
    conn.close()
    return out


def post(server: ReviewServer, decision: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    h = {"Content-Type": "application/json", "X-Clearft-Token": server.token,
         "Origin": f"http://127.0.0.1:{server.port}", **headers}
    status, _, text = request(server, "POST", "/decisions", decision, {k: v for k, v in h.items() if v})
    return status, json.loads(text)


def page_data(html: str) -> dict[str, Any]:
    start = html.index('<script type="application/json" id="review-data">') + len(
        '<script type="application/json" id="review-data">')
    return json.loads(html[start:html.index("</script>", start)])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_decisions_are_appended_as_made_and_the_page_shows_them(served: tuple[ReviewServer, Path, Path],
                                                                tmp_path: Path) -> None:
    server, data, decisions = served
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=") and server.port != 0
    status, headers, html = request(server, "GET", f"/?token={server.token}")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert page_data(html)["serve"]["saved"] == {}
    assert post(server, {"id": "row-0000", "decision": "keep", "reviewer": "ann", "decided_at": "t0"})[0] == 200
    assert post(server, {"id": "row-0001", "decision": "replace", "new_target": "positive"})[0] == 200
    assert post(server, {"id": "row-0002", "decision": "drop"})[0] == 200
    assert post(server, {"id": "row-0002", "decision": "edit", "new_target": "mixed <b>"})[0] == 200  # changed
    written = lines(decisions)  # on disk already, before any shutdown
    assert [(d["id"], d["decision"]) for d in written] == [
        ("row-0000", "keep"), ("row-0001", "replace"), ("row-0002", "drop"), ("row-0002", "edit")]
    assert written[0] == {"id": "row-0000", "decision": "keep", "reviewer": "ann", "decided_at": "t0"}
    assert written[1]["decided_at"].endswith("Z")  # the server stamps a decision without a time
    # A reload shows what is saved, the last decision on each row
    saved = page_data(request(server, "GET", f"/?token={server.token}")[2])["serve"]["saved"]
    assert {k: v["decision"] for k, v in saved.items()} == {"row-0000": "keep", "row-0001": "replace",
                                                            "row-0002": "edit"}
    assert main(["apply", str(decisions), "-o", str(tmp_path / "out.jsonl"), "--data", str(data)]) == 0
    out = {r["id"]: r for r in lines(tmp_path / "out.jsonl")}
    assert out["row-0001"]["response"] == "positive" and out["row-0002"]["response"] == "mixed <b>"
    assert out["row-0000"]["clearft_review"]["reviewer"] == "ann"


def test_a_restarted_server_continues_the_file(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    decisions = tmp_path / "d.jsonl"
    decisions.write_text('{"id": "row-0003", "decision": "drop"}', encoding="utf-8")  # no final newline
    server = serve_queue(data, decisions, limit=5, port=0)
    start(server)
    try:
        assert list(page_data(server.page())["serve"]["saved"]) == ["row-0003"]
        assert post(server, {"id": "row-0004", "decision": "keep"})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
    assert [d["id"] for d in lines(decisions)] == ["row-0003", "row-0004"]


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"X-Clearft-Token": "wrong"}, 403, "token"),
    ({"X-Clearft-Token": ""}, 403, "token"),
    ({"Origin": "http://evil.example"}, 403, "origin"),
    ({"Origin": "null"}, 403, "origin"),
    ({"Sec-Fetch-Site": "cross-site"}, 403, "only the review page"),
    ({"Host": "evil.example"}, 403, "Host"),
    ({"Content-Type": "text/plain"}, 415, "application/json"),
])
def test_writes_from_elsewhere_are_refused(served: tuple[ReviewServer, Path, Path], change: dict[str, str],
                                           status: int, message: str) -> None:
    server, _, decisions = served
    got, body = post(server, {"id": "row-0000", "decision": "keep"}, **change)
    assert got == status and message in body["error"]
    assert not decisions.exists()


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    ({"id": "row-0000", "decision": "maybe"}, "field 'decision': must be one of keep"),
    ({"id": "row-0000", "decision": "edit"}, "field 'new_target'"),
    ({"id": "nope", "decision": "keep"}, "no row 'nope' in this queue"),
    ([1], "must be a JSON object"),
])
def test_bad_decisions_are_refused_and_not_written(served: tuple[ReviewServer, Path, Path], body: Any,
                                                   message: str) -> None:
    server, _, decisions = served
    got, answer = post(server, body)
    assert got == 400 and message in answer["error"]
    assert not decisions.exists()


def test_the_page_needs_the_token_and_the_right_host(served: tuple[ReviewServer, Path, Path]) -> None:
    server, _, _ = served
    assert request(server, "GET", "/")[0] == 403
    assert request(server, "GET", "/?token=wrong")[0] == 403
    assert request(server, "GET", f"/?token={server.token}", headers={"Host": "evil.example"})[0] == 403
    assert request(server, "GET", f"/?token={server.token}",
                   headers={"Host": f"localhost:{server.port}"})[0] == 200
    assert request(server, "GET", f"/other?token={server.token}")[0] == 404
    assert request(server, "POST", "/elsewhere", {}, {"X-Clearft-Token": server.token,
                                                      "Content-Type": "application/json"})[0] == 404


def test_served_page_escapes_dataset_text(tmp_path: Path) -> None:
    server = serve_queue(hostile_file(tmp_path), tmp_path / "d.jsonl", limit=100, port=0)
    try:
        html = server.page()
    finally:
        server.server_close()
    assert html.lower().count("<script") == 2  # the page's own two, none from the data
    for bad in XSS:
        if "<" in bad:
            assert bad not in html
    assert [r["prompt"] for r in page_data(html)["rows"]] != [] and {r["prompt"] for r in page_data(html)["rows"]} == set(XSS)


def test_port_in_use_is_one_line(served: tuple[ReviewServer, Path, Path], tmp_path: Path) -> None:
    server, data, _ = served
    with pytest.raises(ClearftError, match=rf"cannot listen on 127.0.0.1:{server.port} .*--port 0"):
        serve_queue(data, tmp_path / "other.jsonl", port=server.port)


def test_cli_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = data_file(tmp_path)
    assert main(["review", str(data), "-o", str(tmp_path / "x"), "--serve", "--export", "argilla"]) == 1
    assert "--export" in capsys.readouterr().err
    assert main(["review", str(data), "-o", str(tmp_path / "q.html"), "--port", "9000"]) == 1
    assert "--port needs --serve" in capsys.readouterr().err


def test_killed_server_loses_nothing_already_answered(tmp_path: Path) -> None:
    """The CLI in a child process: decisions posted, then SIGKILL (no clean shutdown)."""
    data = data_file(tmp_path)
    decisions = tmp_path / "d.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "clearft.cli.main", "review", str(data), "--serve",
                             "--port", "0", "-o", str(decisions)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("open "):
                url = line.split()[1]
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        port = int(url.split(":")[2].split("/")[0])
        token = url.split("token=")[1]
        for i, decision in enumerate(["keep", "drop", "keep"]):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/decisions", body=json.dumps({"id": f"row-000{i}", "decision": decision}),
                         headers={"Content-Type": "application/json", "X-Clearft-Token": token})
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert [(d["id"], d["decision"]) for d in lines(decisions)] == [
        ("row-0000", "keep"), ("row-0001", "drop"), ("row-0002", "keep")]
