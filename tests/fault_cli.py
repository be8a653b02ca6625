"""`python tests/fault_cli.py ARGS...`: the real `clearft` command line, with the fake backend
instrumented for the fault tests (tests/test_fault_*.py).

* CLEARFT_FAULT_CALL_LOG=path: every request the fake backend is asked to compute is appended
  to this file (one line: model id + a hash of the request) *before* it is computed, so a
  request cut short by a kill still counts. Across killed and resumed runs, a line seen more
  often than in an uninterrupted run is work that was done again.
* CLEARFT_FAULT_DELAY=seconds: time each request takes, so that a kill at a random moment
  lands inside a stage rather than between process start and exit.
* Replies: instead of echoing the prompt, the fake answers in the template clearft asks for
  ("explanation: ..., answer: X"), X a letter A-C drawn from a hash of the request and the
  sample index: deterministic, varied, and parseable, so every stage has real work to do.

Nothing else changes: the command, the cache, the journal and the outputs are the real ones.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from clearft.backends.base import Completion, GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.cli.main import entry

LOG_ENV = "CLEARFT_FAULT_CALL_LOG"
DELAY_ENV = "CLEARFT_FAULT_DELAY"


def request_line(backend: FakeBackend, req: GenerateRequest) -> str:
    # The model's folder name, not its path: runs in different folders log the same lines.
    model = Path(backend.model).name if backend.model else "base"
    digest = hashlib.sha1(req.key().encode("utf-8")).hexdigest()[:20]
    return f"{model}|{digest}\n"


def letter_reply(req: GenerateRequest, i: int) -> str:
    digest = hashlib.sha1(f"{req.key()}|{i}".encode()).digest()
    return f"explanation: scripted reply {digest[1]}. answer: {'ABC'[digest[0] % 3]}"


def instrument() -> None:
    log = os.environ.get(LOG_ENV)
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    compute = FakeBackend.generate

    def generate(self: FakeBackend, requests: Sequence[GenerateRequest]) -> list[Completion]:
        if log:
            # O_APPEND + one write: lines of a killed process are whole or absent.
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, "".join(request_line(self, r) for r in requests).encode())
            finally:
                os.close(fd)
        if delay:
            time.sleep(delay * len(requests))
        return compute(self, requests)

    FakeBackend.generate = generate  # type: ignore[method-assign]
    construct = FakeBackend.__init__

    def init(self: FakeBackend, *args: object, **kwargs: object) -> None:
        construct(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.responder is None:
            self.responder = letter_reply

    FakeBackend.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    instrument()
    sys.argv[0] = "clearft"
    entry()
