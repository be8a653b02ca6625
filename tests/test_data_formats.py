"""Record formats: detection, parsing into prompt turns + target, and putting a new target back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.data import FORMATS, detect_format, open_dataset
from clearft.data.formats import FieldProblem, columns_format, resolve_format
from clearft.errors import DataError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["prompt", "response"], "prompt-response"),
        (["prompt", "completion"], "prompt-completion"),
        (["question", "answer"], "question-answer"),
        (["id", "question", "answer", "options"], "multiple-choice"),
        (["instruction", "input", "output"], "alpaca"),
        (["instruction", "output"], "alpaca"),
        (["messages"], "messages"),
        (["conversations", "id"], "sharegpt"),
    ],
)
def test_detects_format_from_columns(columns: list[str], expected: str) -> None:
    fmt = detect_format(columns)
    assert fmt is not None and fmt.name == expected


def test_undetectable_columns_name_the_options() -> None:
    assert detect_format(["text", "category"]) is None
    with pytest.raises(ValueError, match="--prompt-col"):
        resolve_format(None, ["text", "category"], None, None)


def test_explicit_columns_override_detection() -> None:
    fmt = resolve_format(None, ["prompt", "response", "text", "label"], "text", "label")
    assert fmt.name == "columns" and fmt.required == ("text", "label")
    with pytest.raises(ValueError, match="both"):
        resolve_format("columns", ["text"], "text", None)
    with pytest.raises(ValueError, match="unknown format"):
        resolve_format("yaml-ish", ["text"], None, None)


def test_alpaca_joins_instruction_and_input() -> None:
    fmt = FORMATS["alpaca"]
    messages, response = fmt.parse({"instruction": "Translate.", "input": "Hi", "output": "Salut"})
    assert messages == [{"role": "user", "content": "Translate.\n\nHi"}]
    assert response == "Salut"
    messages, _ = fmt.parse({"instruction": "Say hi.", "input": "", "output": "hi"})
    assert messages[0]["content"] == "Say hi."
    messages, _ = fmt.parse({"instruction": "Say hi.", "output": "hi"})  # no input column at all
    assert messages[0]["content"] == "Say hi."


def test_messages_last_assistant_turn_is_the_target() -> None:
    record = {"messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"},
        {"role": "assistant", "content": "A2", "weight": 1},
    ]}
    messages, response = FORMATS["messages"].parse(record)
    assert response == "A2"
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    new = FORMATS["messages"].with_response(record, "NEW")
    assert new["messages"][-1] == {"role": "assistant", "content": "NEW", "weight": 1}
    assert record["messages"][-1]["content"] == "A2"  # the original is untouched


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ([("user", "a"), ("user", "b"), ("assistant", "c")], "do not alternate"),
        ([("user", "a"), ("assistant", "b"), ("user", "c")], "no final assistant turn"),
        ([("assistant", "a")], "expected 'user'"),
        ([("user", "a"), ("system", "s"), ("assistant", "b")], "only allowed first"),
        ([("system", "s")], "no user or assistant turn"),
        ([("user", "a"), ("robot", "b")], "unknown role"),
        ([("user", "a"), ("assistant", "")], "empty"),
    ],
)
def test_bad_chats_are_field_problems(turns: list[tuple[str, str]], reason: str) -> None:
    record = {"messages": [{"role": r, "content": c} for r, c in turns]}
    with pytest.raises(FieldProblem, match=reason) as info:
        FORMATS["messages"].parse(record)
    assert info.value.field == "messages"


def test_messages_must_be_a_list() -> None:
    with pytest.raises(FieldProblem, match="expected a list, got text"):
        FORMATS["messages"].parse({"messages": "hello"})
    with pytest.raises(FieldProblem, match="turn 0: 'content' expected text"):
        FORMATS["messages"].parse({"messages": [{"role": "user", "content": [{"type": "text"}]},
                                                {"role": "assistant", "content": "x"}]})


def test_messages_stored_as_json_text_stay_text() -> None:
    turns = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    record = {"messages": json.dumps(turns)}
    messages, response = FORMATS["messages"].parse(record)
    assert response == "A" and messages == turns[:1]
    new = FORMATS["messages"].with_response(record, "B")
    assert isinstance(new["messages"], str)
    assert json.loads(new["messages"])[-1]["content"] == "B"


def test_sharegpt_maps_roles_and_writes_back_value() -> None:
    record = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"},
                                {"from": "gpt", "value": "A"}]}
    messages, response = FORMATS["sharegpt"].parse(record)
    assert messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert response == "A"
    assert FORMATS["sharegpt"].with_response(record, "B")["conversations"][-1] == {"from": "gpt", "value": "B"}
    with pytest.raises(FieldProblem, match="unknown from 'bot'"):
        FORMATS["sharegpt"].parse({"conversations": [{"from": "human", "value": "Q"},
                                                     {"from": "bot", "value": "A"}]})


def test_prompt_completion_text_and_conversational() -> None:
    fmt = FORMATS["prompt-completion"]
    assert fmt.parse({"prompt": "The sky is", "completion": " blue."}) == (
        [{"role": "user", "content": "The sky is"}], " blue.")
    record = {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
              "completion": [{"role": "assistant", "content": "A"}]}
    messages, response = fmt.parse(record)
    assert [m["role"] for m in messages] == ["system", "user"] and response == "A"
    assert fmt.with_response(record, "B")["completion"] == [{"role": "assistant", "content": "B"}]
    assert fmt.with_response({"prompt": "p", "completion": "c"}, "d") == {"prompt": "p", "completion": "d"}


def test_multiple_choice_prompt_lists_lettered_options() -> None:
    fmt = FORMATS["multiple-choice"]
    record = {"question": "Sentiment?", "options": '["negative", "neutral", "positive"]', "answer": "C"}
    messages, response = fmt.parse(record)
    assert messages[0]["content"] == "Sentiment?\nA. negative\nB. neutral\nC. positive"
    assert response == "C"
    assert fmt.with_response(record, "A") == {**record, "answer": "A"}
    # Native lists (JSONL, Parquet) work too.
    assert fmt.parse({**record, "options": ["x", "y"], "answer": "B"})[0][0]["content"] == "Sentiment?\nA. x\nB. y"


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"question": "Q", "options": '["a", "b"]', "answer": "C"}, "answer", "A-B"),
        ({"question": "Q", "options": '["a", "b"]', "answer": "AB"}, "answer", "A-B"),
        ({"question": "Q", "options": "[not json", "answer": "A"}, "options", "not a valid JSON list"),
        ({"question": "Q", "options": "[]", "answer": "A"}, "options", "empty list"),
        ({"question": "Q", "options": [1, 2], "answer": "A"}, "options", "option 1"),
        ({"question": "", "options": ["a"], "answer": "A"}, "question", "empty"),
    ],
)
def test_multiple_choice_bad_fields(record: dict, field: str, reason: str) -> None:
    with pytest.raises(FieldProblem, match=reason) as info:
        FORMATS["multiple-choice"].parse(record)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"prompt": "p"}, "response", "missing"),
        ({"prompt": "p", "response": None}, "response", "missing"),
        ({"prompt": "p", "response": " \n"}, "response", "empty"),
        ({"prompt": 5, "response": "r"}, "prompt", "expected text, got a number"),
        ({"prompt": ["p"], "response": "r"}, "prompt", "expected text, got a list"),
    ],
)
def test_text_fields_checked(record: dict, field: str, reason: str) -> None:
    with pytest.raises(FieldProblem, match=reason) as info:
        FORMATS["prompt-response"].parse(record)
    assert info.value.field == field


def test_columns_format_reads_named_columns() -> None:
    fmt = columns_format("text", "category")
    assert fmt.parse({"text": "where is my card", "category": "card_arrival"}) == (
        [{"role": "user", "content": "where is my card"}], "card_arrival")
    assert fmt.with_response({"text": "t", "category": "a"}, "b") == {"text": "t", "category": "b"}


@pytest.mark.parametrize(
    ("name", "fmt", "first_response"),
    [
        ("alpaca.json", "alpaca", "Paris"),
        ("messages.jsonl", "messages", "4"),
        ("sharegpt.jsonl", "sharegpt", "Blue"),
        ("prompt_completion.jsonl", "prompt-completion", " blue."),
        ("multiple_choice.csv", "multiple-choice", "A"),
    ],
)
def test_fixture_files_detected_and_parsed(name: str, fmt: str, first_response: str) -> None:
    ds = open_dataset(FIXTURES / name)
    assert ds.format.name == fmt
    examples = list(ds)
    assert len(examples) == 2
    assert examples[0].response == first_response
    # with_response puts the target back where the format keeps it.
    new = "C" if fmt == "multiple-choice" else "NEW"
    again = ds.format.parse(ds.with_response(examples[1], new))
    assert again == (examples[1].messages, new)


def test_format_override_beats_detection(tmp_path: Path) -> None:
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps({"question": "Q", "answer": "A", "prompt": "P", "response": "R"}) + "\n")
    assert open_dataset(path).format.name == "prompt-response"
    assert open_dataset(path, format="question-answer").format.name == "question-answer"
    with pytest.raises(DataError, match="unknown format"):
        open_dataset(path, format="nope")
