"""`python -m clearft.backends.llamacpp_server --port P`: a llama.cpp OpenAI-compatible server
on loopback with a GGUF (default: the embedded model), running until killed.

Used by the openai backend's tests and benchmark as a real server to talk to; also handy
for pointing other tools at the embedded model.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from clearft.backends.llamacpp import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT, start_server


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m clearft.backends.llamacpp_server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--model", default=None, help="GGUF file (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--parallel", type=int, default=DEFAULT_CONCURRENCY, help="slots decoding together")
    p.add_argument("--context", type=int, default=DEFAULT_CONTEXT, help="tokens per slot")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--verbose", action="store_true", help="show llama.cpp's own log")
    args = p.parse_args(argv)

    from clearft.models import default_gguf_path

    model = args.model or default_gguf_path()
    server = start_server(model, args.parallel, args.context, threads=args.threads,
                          port=args.port, host=args.host, verbose=args.verbose)
    print(f"listening on {server.listening_address}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    del server  # the destructor stops llama.cpp's loop
    return 0


if __name__ == "__main__":
    sys.exit(main())
