"""`clearft generate PROMPTS -o OUT`: responses from a model for a file of prompts.

PROMPTS is JSONL (each line has `prompt`, a string, or `messages`, a chat) or plain text
(one prompt per non-empty line). OUT is JSONL, one line per prompt, in order:
{"line", "prompt" or "messages", "response" (or "responses" when -n > 1),
"tokens": {"prompt", "completion"}, "error" (only when the call failed)}.
Calls go through the call cache, so a rerun after a crash only pays for what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from clearft.cli.common import (
    MAX_TOKENS_HELP,
    NonNegativeFloat,
    PositiveInt,
    add_backend_args,
    add_seed_arg,
    backend_options,
)

CHUNK = 64  # prompts per backend call; output is written after each chunk
MAX_TOKENS = 256  # per response, without --max-tokens


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate responses for a file of prompts (JSONL or text)")
    p.add_argument("prompts", help="JSONL with `prompt` or `messages` per line, or a text file with one prompt per line")
    p.add_argument("-o", "--output", required=True, help="JSONL file to write")
    p.add_argument("-n", action=PositiveInt, default=1, help="samples per prompt (sample i uses seed + i)")
    p.add_argument("--temperature", action=NonNegativeFloat, default=0.0,
                   help="sampling temperature (0: greedy)")
    p.add_argument("--max-tokens", action=PositiveInt, default=None, help=MAX_TOKENS_HELP)
    add_seed_arg(p)
    p.add_argument("--system", default=None, help="system message put before each prompt")
    add_backend_args(p)
    p.set_defaults(func=run)


def read_prompts(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, {"prompt": str} or {"messages": [...]}) for each prompt in the file."""
    from clearft.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), None, None, "no such file")
    lines = p.read_text(encoding="utf-8").splitlines()
    as_jsonl = p.suffix.lower() in (".jsonl", ".json") or (
        bool(lines) and lines[0].lstrip().startswith("{")
    )
    out: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not as_jsonl:
            out.append((number, {"prompt": line}))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(str(p), number, None, f"not valid JSON ({exc.msg})") from exc
        if isinstance(record, dict) and isinstance(record.get("prompt"), str):
            out.append((number, {"prompt": record["prompt"]}))
        elif isinstance(record, dict) and _is_chat(record.get("messages")):
            out.append((number, {"messages": record["messages"]}))
        else:
            raise DataError(str(p), number, "prompt",
                            "needs a string `prompt` or a `messages` list of {role, content}")
    return out


def _is_chat(messages: Any) -> bool:
    return isinstance(messages, list) and bool(messages) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages
    )


def to_messages(item: dict[str, Any], system: str | None) -> list[dict[str, str]]:
    if "messages" in item:
        return [{"role": m["role"], "content": m["content"]} for m in item["messages"]]
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": "user", "content": item["prompt"]}]


def output_record(line: int, item: dict[str, Any], completion: Any, n: int) -> dict[str, Any]:
    record: dict[str, Any] = {"line": line, **item}
    if completion.ok:
        if n == 1:
            record["response"] = completion.texts[0]
        else:
            record["responses"] = completion.texts
    else:
        record["error"] = completion.error
    record["tokens"] = {"prompt": completion.prompt_tokens, "completion": completion.completion_tokens}
    return record


def run(args: argparse.Namespace) -> int:
    from clearft.backends.base import GenerateRequest
    from clearft.backends.cache import CachedBackend, open_backend

    prompts = read_prompts(args.prompts)
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    failed = 0
    tokens = {"prompt": 0, "completion": 0}
    with open_backend(args.backend, cache=args.cache, **backend_options(args)) as backend, \
            out_path.open("w", encoding="utf-8") as out:
        for start in range(0, len(prompts), CHUNK):
            chunk = prompts[start : start + CHUNK]
            requests = [
                GenerateRequest(
                    messages=to_messages(item, args.system), n=args.n,
                    temperature=args.temperature, max_tokens=args.max_tokens or MAX_TOKENS, seed=args.seed,
                )
                for _, item in chunk
            ]
            for (line, item), comp in zip(chunk, backend.generate(requests), strict=True):
                failed += not comp.ok
                tokens["prompt"] += comp.prompt_tokens
                tokens["completion"] += comp.completion_tokens
                out.write(json.dumps(output_record(line, item, comp, args.n), ensure_ascii=False) + "\n")
            out.flush()
        cache_note = ""
        if isinstance(backend, CachedBackend):
            s = backend.stats()
            cache_note = f"; cache {backend.path}: {s['hits']} hits, {s['misses']} misses"
    print(
        f"wrote {len(prompts)} records to {out_path} ({failed} failed; "
        f"{tokens['prompt']} prompt + {tokens['completion']} completion tokens{cache_note})",
        file=sys.stderr,
    )
    return 1 if failed else 0
