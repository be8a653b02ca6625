"""Record formats: how a user's record (one dict) holds a prompt and its target response.

Each format is a small object with three pure methods:

* ``parse(record) -> (messages, response)``: the prompt as chat turns and the target text,
  or a ``FieldProblem`` naming the field that is missing, empty or of the wrong type;
* ``with_response(record, new) -> dict``: a copy of the record with the target replaced,
  so corrected data drops back into the user's trainer in its own format;
* ``required`` columns, used to detect the format and to check a file before any model
  is called.

``detect_format(columns)`` picks a format from the column names of the first record.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

from clearft.messages import Message


class FieldProblem(Exception):
    """One record's field is unusable; the dataset layer adds the file and line."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# ---------------------------------------------------------------- field checks (pure)


def describe_type(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def get_text(record: dict[str, Any], field: str, *, optional: bool = False) -> str:
    """The field's text; missing, null, non-text or blank values are a FieldProblem."""
    if field not in record or record[field] is None:
        if optional:
            return ""
        raise FieldProblem(field, "missing")
    value = record[field]
    if not isinstance(value, str):
        raise FieldProblem(field, f"expected text, got {describe_type(value)}")
    if not optional and not value.strip():
        raise FieldProblem(field, "empty")
    return value


def get_list(record: dict[str, Any], field: str) -> list[Any]:
    """A list field; a JSON list stored as text (CSV cells) is parsed."""
    if field not in record or record[field] is None:
        raise FieldProblem(field, "missing")
    value = record[field]
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldProblem(field, f"not a valid JSON list: {exc.msg}") from None
    if not isinstance(value, (list, tuple)):
        raise FieldProblem(field, f"expected a list, got {describe_type(value)}")
    if not value:
        raise FieldProblem(field, "empty list")
    return list(value)


def store_like(original: Any, new_value: Any) -> Any:
    """Keep a list field's storage: JSON text stays JSON text (a CSV cell), a list a list."""
    if isinstance(original, str):
        return json.dumps(new_value, ensure_ascii=False)
    return new_value


# ---------------------------------------------------------------- chat turns (pure)

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "system": "system"}


def check_turns(turns: Sequence[Message], field: str) -> None:
    """Optional system turn first, then user/assistant alternating, ending with assistant."""
    start = 1 if turns and turns[0]["role"] == "system" else 0
    body = turns[start:]
    if not body:
        raise FieldProblem(field, "no user or assistant turn")
    for i, turn in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn["role"] != expected:
            where = start + i
            if turn["role"] == "system":
                raise FieldProblem(field, f"turn {where}: a system turn is only allowed first")
            raise FieldProblem(
                field, f"turns do not alternate: turn {where} is '{turn['role']}', expected '{expected}'"
            )
    if body[-1]["role"] != "assistant":
        raise FieldProblem(field, "no final assistant turn (the target response)")


def read_turns(
    raw_turns: list[Any], field: str, role_key: str, content_key: str, roles: dict[str, str] | None
) -> list[Message]:
    """Normalise raw turn objects into {role, content} messages, checking types."""
    turns: list[Message] = []
    for i, turn in enumerate(raw_turns):
        if not isinstance(turn, dict):
            raise FieldProblem(field, f"turn {i}: expected an object, got {describe_type(turn)}")
        role = turn.get(role_key)
        if not isinstance(role, str):
            raise FieldProblem(field, f"turn {i}: '{role_key}' missing or not text")
        if roles is not None:
            if role not in roles:
                raise FieldProblem(field, f"turn {i}: unknown {role_key} '{role}' (expected one of {', '.join(roles)})")
            role = roles[role]
        elif role not in ("system", "user", "assistant"):
            raise FieldProblem(field, f"turn {i}: unknown role '{role}' (expected system, user or assistant)")
        content = turn.get(content_key)
        if not isinstance(content, str):
            what = "missing" if content is None else f"expected text, got {describe_type(content)}"
            raise FieldProblem(field, f"turn {i}: '{content_key}' {what}")
        if not content.strip():
            raise FieldProblem(field, f"turn {i}: '{content_key}' is empty")
        turns.append({"role": role, "content": content})
    return turns


# ---------------------------------------------------------------- the formats


class RecordFormat:
    """Base class. ``required`` lists the columns the format reads; ``target_field`` is the
    column that holds (or contains) the target response."""

    name: str = ""
    summary: str = ""
    required: tuple[str, ...] = ()
    target_field: str = ""

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        raise NotImplementedError

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<RecordFormat {self.name}>"


class TextPairFormat(RecordFormat):
    """A prompt column and a response column, both plain text."""

    def __init__(self, name: str, prompt_col: str, response_col: str, summary: str = "") -> None:
        self.name = name
        self.prompt_col = prompt_col
        self.response_col = response_col
        self.summary = summary
        self.required = (prompt_col, response_col)
        self.target_field = response_col

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        prompt = get_text(record, self.prompt_col)
        return [{"role": "user", "content": prompt}], get_text(record, self.response_col)

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        out = dict(record)
        out[self.response_col] = new_response
        return out


class PromptCompletionFormat(RecordFormat):
    """TRL prompt/completion: plain text, or conversational (lists of {role, content})."""

    name = "prompt-completion"
    summary = "TRL prompt/completion (text or conversational)"
    required = ("prompt", "completion")
    target_field = "completion"

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        prompt = record.get("prompt")
        if isinstance(prompt, (list, tuple)):
            messages = read_turns(list(prompt), "prompt", "role", "content", None)
            completion = get_list(record, "completion")
            turns = read_turns(completion, "completion", "role", "content", None)
            if len(turns) != 1 or turns[0]["role"] != "assistant":
                raise FieldProblem("completion", "expected exactly one assistant turn")
            check_turns(messages + turns, "prompt")
            return messages, turns[0]["content"]
        return [{"role": "user", "content": get_text(record, "prompt")}], get_text(record, "completion")

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        out = dict(record)
        if isinstance(record.get("completion"), (list, tuple)):
            turn = dict(record["completion"][0])
            turn["content"] = new_response
            out["completion"] = [turn]
        else:
            out["completion"] = new_response
        return out


class AlpacaFormat(RecordFormat):
    """instruction / input / output; the prompt is the instruction, then the input if any."""

    name = "alpaca"
    summary = "Alpaca instruction/input/output"
    required = ("instruction", "output")
    target_field = "output"

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        prompt = get_text(record, "instruction")
        extra = get_text(record, "input", optional=True)
        if extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        return [{"role": "user", "content": prompt}], get_text(record, "output")

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        return {**record, "output": new_response}


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def lettered_options(options: Sequence[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


class MultipleChoiceFormat(RecordFormat):
    """question / options (a list, or JSON text in CSV) / answer letter (RobustFT shape).

    The prompt is the question followed by the lettered options; the target is the letter.
    """

    name = "multiple-choice"
    summary = "question + options list + answer letter (RobustFT)"
    required = ("question", "options", "answer")
    target_field = "answer"

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        question = get_text(record, "question")
        options = get_list(record, "options")
        if len(options) > len(LETTERS):
            raise FieldProblem("options", f"{len(options)} options; at most {len(LETTERS)} are supported")
        for i, option in enumerate(options):
            if not isinstance(option, str):
                raise FieldProblem("options", f"option {i + 1}: expected text, got {describe_type(option)}")
        answer = get_text(record, "answer")
        allowed = LETTERS[: len(options)]
        letter = answer.strip()
        if len(letter) != 1 or letter not in allowed:
            raise FieldProblem("answer", f"expected one letter {allowed[0]}-{allowed[-1]}, got {answer!r}")
        prompt = f"{question}\n{lettered_options(options)}"
        return [{"role": "user", "content": prompt}], answer

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        return {**record, "answer": new_response}


class MessagesFormat(RecordFormat):
    """OpenAI fine-tuning JSONL / TRL conversational: ``messages`` = [{role, content}, ...].

    The last assistant turn is the target; every earlier turn is the prompt.
    """

    name = "messages"
    summary = "chat messages [{role, content}] (OpenAI fine-tuning, TRL conversational)"
    column = "messages"
    role_key = "role"
    content_key = "content"
    roles: dict[str, str] | None = None
    required = ("messages",)
    target_field = "messages"

    def parse(self, record: dict[str, Any]) -> tuple[list[Message], str]:
        raw = get_list(record, self.column)
        turns = read_turns(raw, self.column, self.role_key, self.content_key, self.roles)
        check_turns(turns, self.column)
        return turns[:-1], turns[-1]["content"]

    def with_response(self, record: dict[str, Any], new_response: str) -> dict[str, Any]:
        original = record[self.column]
        turns = copy.deepcopy(json.loads(original) if isinstance(original, str) else list(original))
        last = dict(turns[-1])
        last[self.content_key] = new_response
        turns[-1] = last
        return {**record, self.column: store_like(original, turns)}


class ShareGPTFormat(MessagesFormat):
    """ShareGPT: ``conversations`` = [{from: human|gpt|system, value}, ...]."""

    name = "sharegpt"
    summary = "ShareGPT conversations [{from, value}]"
    column = "conversations"
    role_key = "from"
    content_key = "value"
    roles = SHAREGPT_ROLES
    required = ("conversations",)
    target_field = "conversations"


def columns_format(prompt_col: str, response_col: str) -> TextPairFormat:
    """Explicit columns (e.g. banking77's ``text`` and ``category``)."""
    return TextPairFormat("columns", prompt_col, response_col, "explicit --prompt-col/--response-col")


FORMATS: dict[str, RecordFormat] = {
    f.name: f
    for f in [
        TextPairFormat("prompt-response", "prompt", "response", "prompt/response text"),
        PromptCompletionFormat(),
        TextPairFormat("question-answer", "question", "answer", "question/answer text (e.g. GSM8K)"),
        MultipleChoiceFormat(),
        AlpacaFormat(),
        MessagesFormat(),
        ShareGPTFormat(),
        columns_format("prompt", "response"),  # the columns are set per dataset
    ]
}

# Tried in order; the first whose columns are all present wins. Multiple-choice comes before
# question-answer because it is the more specific of the two.
DETECTION_ORDER = ["messages", "sharegpt", "alpaca", "prompt-completion", "prompt-response",
                   "multiple-choice", "question-answer"]


def detect_format(columns: Iterable[str]) -> RecordFormat | None:
    present = set(columns)
    for name in DETECTION_ORDER:
        fmt = FORMATS[name]
        if all(c in present for c in fmt.required):
            return fmt
    return None


def resolve_format(
    name: str | None, columns: Iterable[str], prompt_col: str | None, response_col: str | None
) -> RecordFormat:
    """The format to use, or a ValueError saying what to pass. Explicit beats detected."""
    if prompt_col or response_col or name == "columns":
        if name not in (None, "columns"):
            raise ValueError(f"--prompt-col/--response-col go with format 'columns', not '{name}'")
        if not (prompt_col and response_col):
            raise ValueError("format 'columns' needs both --prompt-col and --response-col")
        return columns_format(prompt_col, response_col)
    if name is not None:
        if name not in FORMATS:
            raise ValueError(f"unknown format '{name}'; choose one of {', '.join(FORMATS)}")
        return FORMATS[name]
    columns = list(columns)
    found = detect_format(columns)
    if found is None:
        raise ValueError(
            f"cannot tell the record format from the columns {columns}; pass --format "
            f"({', '.join(FORMATS)}) or --prompt-col and --response-col"
        )
    return found
