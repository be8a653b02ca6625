"""One training example as clearft sees it, beside the user's record that it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clearft.messages import Message


@dataclass
class Example:
    id: str  # stable: the record's id column if it has one, else a content hash
    messages: list[Message]  # the prompt: every turn before the target response
    response: str  # the target response (the last assistant turn of a chat)
    record: dict[str, Any] = field(default_factory=dict)  # the original record, untouched
    line: int = 0  # 1-based line (JSONL/JSON) or row (CSV, Parquet, HF) in the source

    @property
    def prompt_text(self) -> str:
        """The prompt as plain text (the last user turn; earlier turns joined before it)."""
        if len(self.messages) == 1:
            return self.messages[0]["content"]
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
