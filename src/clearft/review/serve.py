"""`clearft review --serve`: the review page served on 127.0.0.1, each decision appended to the
decisions JSONL (flushed and fsync'd) the moment it is made, so a killed server loses nothing
already answered, and a reload of the page shows the decisions saved so far.

Only the page this server handed out can write: every request needs the random token of the
printed URL (`?token=`; the page sends it back in an `X-Clearft-Token` header), a Host of
127.0.0.1 or localhost on the server's port (no DNS rebinding), and a write needs
`Content-Type: application/json` (a cross-site form cannot send it without a preflight, which
is never allowed) and, when the browser sends one, an Origin of this server. The page is the
offline one (clearft.review.build.render_queue): dataset text travels as escaped JSON and is
shown only as text, and the Content-Security-Policy (also sent as a header) lets the page's
own script talk to this server and nothing else.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clearft.data.options import DataOptions
from clearft.errors import ClearftError, DataError
from clearft.review.build import page_csp, queue_rows, render_queue
from clearft.review.decisions import Decision, decision_line, parse_decision, read_decision_lines
from clearft.review.load import load_pool

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY = 1_000_000  # bytes of one decision


class DecisionLog:
    """The decisions JSONL, appended one line per decision (write, flush, fsync), the latest
    decision on each row kept in memory for the page."""

    def __init__(self, path: Path, known_ids: set[str]) -> None:
        self.path = path
        self.known_ids = known_ids
        self.lock = threading.Lock()
        self.saved: dict[str, Decision] = read_decision_lines(path) if path.is_file() and path.stat().st_size else {}
        self.lines = 0
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                self.lines = sum(1 for line in f if line.strip())
        if path.is_file() and path.stat().st_size:
            with path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line cut short: start ours on a fresh line
                    self._append(b"\n")

    def _append(self, data: bytes) -> None:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:  # the new file's name is durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def add(self, obj: Any) -> Decision:
        """Check one decision from the page and append it; DataError if it is bad."""
        with self.lock:
            d = parse_decision(obj, "decision", None)
            if d.id not in self.known_ids:
                raise DataError("decision", None, "id", f"no row '{d.id}' in this queue")
            if not d.decided_at:
                d.decided_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            line = json.dumps(decision_line(d), ensure_ascii=False) + "\n"
            self._append(line.encode("utf-8"))
            self.lines += 1
            self.saved.pop(d.id, None)
            self.saved[d.id] = d
            return d

    def page_state(self) -> dict[str, Any]:
        """The saved decisions the page shows on load (rows of this queue only)."""
        with self.lock:
            return {i: decision_line(d) for i, d in self.saved.items() if i in self.known_ids}


class ReviewServer(ThreadingHTTPServer):
    """The queue page and its decisions endpoint; `url` carries the access token."""

    daemon_threads = True

    def __init__(self, rows: list[dict[str, Any]], pool: int, title: str, decisions: str | Path, *,
                 port: int = DEFAULT_PORT, token: str | None = None) -> None:
        self.rows = rows
        self.pool = pool
        self.title = title
        self.token = token or secrets.token_urlsafe(24)
        self.log = DecisionLog(Path(decisions), {r["id"] for r in rows})
        try:
            super().__init__((HOST, port), _Handler)
        except (OSError, OverflowError) as exc:
            raise ClearftError(f"cannot listen on {HOST}:{port} ({getattr(exc, 'strerror', None) or exc}); "
                               "pass --port 0 for any free port") from None
        self.port = int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def allowed_hosts(self) -> set[str]:
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    def page(self) -> str:
        return render_queue(self.rows, self.title, self.pool,
                            serve={"token": self.token, "saved": self.log.page_state(),
                                   "decisions": self.log.path.name})


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "clearft-review"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the CLI prints what matters; no access log on stderr

    def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8",
              extra: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        self._send(status, json.dumps(obj), "application/json")

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8"), self.server.token.encode("utf-8"))

    def _host_ok(self) -> bool:
        return (self.headers.get("Host") or "").lower() in self.server.allowed_hosts()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._send(HTTPStatus.FORBIDDEN, "wrong Host header")
        if url.path != "/":
            return self._send(HTTPStatus.NOT_FOUND, "not found")
        tokens = parse_qs(url.query).get("token") or []
        if not self._token_ok(tokens[0] if len(tokens) == 1 else None):
            return self._send(HTTPStatus.FORBIDDEN, "open the URL `clearft review --serve` printed: it carries "
                                                    "the access token")
        page = self.server.page()
        self._send(HTTPStatus.OK, page, "text/html; charset=utf-8",
                   {"Content-Security-Policy": page_csp(served=True) + "; frame-ancestors 'none'"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "wrong Host header"})
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower().removeprefix("http://") not in self.server.allowed_hosts():
            return self._json(HTTPStatus.FORBIDDEN, {"error": f"origin {origin} may not write decisions"})
        if self.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "only the review page may write decisions"})
        if not self._token_ok(self.headers.get("X-Clearft-Token")):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong token"})
        if url.path != "/decisions":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send application/json"})
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
        if not 0 < length <= MAX_BODY:
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"one decision, at most {MAX_BODY} bytes"})
        try:
            obj = json.loads(self.rfile.read(length).decode("utf-8"))
            d = self.server.log.add(obj)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "not valid JSON"})
        except DataError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except OSError as exc:
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"could not save: {exc}"})
        self._json(HTTPStatus.OK, {"saved": decision_line(d), "lines": self.server.log.lines})


def serve_queue(source: str | Path, decisions: str | Path, *, limit: int = 50, port: int = DEFAULT_PORT,
                title: str | None = None, data_options: DataOptions | None = None,
                token: str | None = None) -> ReviewServer:
    """A ReviewServer for the queue of a run directory or file, listening (not yet serving:
    call serve_forever(), and shutdown() from another thread)."""
    if limit < 1:
        raise ClearftError(f"--top must be at least 1, got {limit}")
    pool = load_pool(source, data_options)
    rows = queue_rows(pool, limit)
    return ReviewServer(rows, len(pool), title or f"clearft review: {Path(source).name}", decisions,
                        port=port, token=token)
