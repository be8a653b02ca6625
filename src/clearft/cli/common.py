"""Options shared by several commands, and turning them into API objects."""

from __future__ import annotations

import argparse
from typing import Any


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input data")
    g.add_argument("--format", dest="data_format", default=None,
                   help="record format (auto-detected by default): prompt-response, prompt-completion, "
                        "question-answer, multiple-choice, alpaca, messages, sharegpt, columns")
    g.add_argument("--file-type", default=None,
                   help="jsonl, json, csv, parquet or hf (a datasets save_to_disk folder); default: from the path")
    g.add_argument("--prompt-col", default=None, help="column holding the prompt")
    g.add_argument("--response-col", default=None, help="column holding the target response")
    g.add_argument("--id-col", default=None, help="column holding a stable id (default: 'id' if present, else a content hash)")
    g.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="bad records: stop with an error naming file, line and field (default), or skip "
                        "them into a side file with the reason")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model backend")
    g.add_argument("--backend", default="llamacpp",
                   help="llamacpp (default, embedded model), transformers, openai, fake; see `clearft backends`")
    g.add_argument("--model", default=None,
                   help="GGUF file (llamacpp), model folder (transformers) or model name (openai); "
                        "default: the embedded SmolLM2-135M-Instruct")
    g.add_argument("--base-url", default=None, help="openai backend: server URL, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--api-key-env", default=None,
                   help="openai backend: name of the environment variable holding the API key "
                        "(default OPENAI_API_KEY); the key itself is never accepted on the command line")
    g.add_argument("--concurrency", type=int, default=None,
                   help="parallel sequences (llamacpp) or concurrent requests to start with (openai)")
    g.add_argument("--max-concurrency", type=int, default=None,
                   help="openai backend: the most requests in flight the adaptive limit may grow to (256); "
                        "set it to a local server's slot count")
    g.add_argument("--server-kind", choices=["auto", "llamacpp", "vllm", "openai"], default=None,
                   help="openai backend: how the server takes a prefilled answer (auto: ask it once); "
                        "vllm: continue_final_message; openai: no prefill")
    g.add_argument("--group-samples", action=argparse.BooleanOptionalAction, default=None,
                   help="openai backend: the k samples as one request with n (default: where the server honours n)")
    g.add_argument("--fast-unreproducible", action="store_true",
                   help="llamacpp: keep llama.cpp's own batching settings (more parallel throughput; "
                        "samples then depend on what runs beside them)")
    g.add_argument("--cache", default=None,
                   help="SQLite file caching every model call (default: .clearft-cache/calls.sqlite); 'off' disables")


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "model", None):
        opts["model"] = args.model
    if getattr(args, "base_url", None):
        opts["base_url"] = args.base_url
    if getattr(args, "api_key_env", None):
        opts["api_key_env"] = args.api_key_env
    if getattr(args, "concurrency", None):
        opts["concurrency"] = args.concurrency
    for flag, key in (("--max-concurrency", "max_concurrency"), ("--server-kind", "server_kind"),
                      ("--group-samples", "group_samples")):
        value = getattr(args, key, None)
        if value is None:
            continue
        if getattr(args, "backend", "llamacpp") != "openai":
            from clearft.errors import ClearftError

            raise ClearftError(f"{flag} applies to the openai backend only")
        if key == "max_concurrency" and value < 1:
            from clearft.errors import ClearftError

            raise ClearftError(f"--max-concurrency must be at least 1, got {value}")
        opts[key] = value
    if getattr(args, "fast_unreproducible", False):
        if getattr(args, "backend", "llamacpp") != "llamacpp":
            from clearft.errors import ClearftError

            raise ClearftError("--fast-unreproducible applies to the llamacpp backend only")
        opts["reproducible"] = False
    return opts


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "format": getattr(args, "data_format", None),
        "file_type": getattr(args, "file_type", None),
        "prompt_col": getattr(args, "prompt_col", None),
        "response_col": getattr(args, "response_col", None),
        "id_col": getattr(args, "id_col", None),
        "on_error": getattr(args, "on_error", "raise"),
    }
