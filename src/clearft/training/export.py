"""Curated data in the record formats other trainers read (pure converters + one writer).

Formats:
* ``messages``: {"messages": [..., {"role": "assistant", ...}]} (TRL conversational, Axolotl chat)
* ``openai``: the same, for OpenAI fine-tuning JSONL (no extra keys: the service rejects them)
* ``trl``: TRL conversational prompt/completion: {"prompt": [...], "completion": [assistant]}
* ``prompt-completion``: plain strings {"prompt": "...", "completion": "..."} (TRL standard)
* ``alpaca``: {"instruction", "input", "output"} (+ "system" and "history" when the chat has them,
  as LLaMA-Factory reads them)
* ``sharegpt``: {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from clearft.data.example import Example
from clearft.errors import ClearftError

Record = dict[str, Any]


def _chat(ex: Example) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in ex.messages] + [
        {"role": "assistant", "content": ex.response}
    ]


def to_messages(ex: Example) -> Record:
    return {"messages": _chat(ex)}


def to_trl(ex: Example) -> Record:
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in ex.messages],
        "completion": [{"role": "assistant", "content": ex.response}],
    }


def to_prompt_completion(ex: Example) -> Record:
    return {"prompt": ex.prompt_text, "completion": ex.response}


def _split_system(ex: Example) -> tuple[str | None, list[dict[str, str]]]:
    turns = list(ex.messages)
    if turns and turns[0]["role"] == "system":
        return turns[0]["content"], turns[1:]
    return None, turns


def to_alpaca(ex: Example) -> Record:
    system, turns = _split_system(ex)
    if not turns or turns[-1]["role"] != "user":
        raise ClearftError(f"example {ex.id}: Alpaca needs the prompt to end with a user turn")
    record: Record = {"instruction": turns[-1]["content"], "input": "", "output": ex.response}
    earlier = turns[:-1]
    if earlier:
        pairs = [[earlier[i]["content"], earlier[i + 1]["content"]] for i in range(0, len(earlier) - 1, 2)]
        record["history"] = pairs
    if system:
        record["system"] = system
    return record


_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(ex: Example) -> Record:
    return {"conversations": [{"from": _SHAREGPT_ROLE.get(m["role"], m["role"]), "value": m["content"]}
                              for m in _chat(ex)]}


EXPORT_FORMATS: dict[str, Callable[[Example], Record]] = {
    "messages": to_messages,
    "openai": to_messages,
    "trl": to_trl,
    "prompt-completion": to_prompt_completion,
    "alpaca": to_alpaca,
    "sharegpt": to_sharegpt,
}


def to_record(ex: Example, fmt: str, include_id: bool = False) -> Record:
    if fmt not in EXPORT_FORMATS:
        raise ClearftError(f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    record = EXPORT_FORMATS[fmt](ex)
    if include_id and fmt != "openai":
        record = {"id": ex.id, **record}
    return record


def export_examples(
    examples: Iterable[Example],
    path: str | Path,
    fmt: str = "messages",
    *,
    file_type: str | None = None,
    include_id: bool = False,
) -> int:
    """Write `examples` to `path` in trainer format `fmt` (atomic); returns rows written."""
    from clearft.data import write_records

    if fmt == "openai" and (file_type or Path(path).suffix.lstrip(".")) not in ("jsonl", ""):
        raise ClearftError("OpenAI fine-tuning reads JSONL only: give the output a .jsonl name")
    records = (to_record(ex, fmt, include_id) for ex in examples)
    return int(write_records(path, records, file_type=file_type))
