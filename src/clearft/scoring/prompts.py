"""Prompt building for the scoring methods: pure functions from an example to messages.

Wording follows BSDetector (SPEC section 1) and AlpaGasus (judge rating). Parsing what the
model says back lives in ``parsing.py``; nothing here looks at model output.
"""

from __future__ import annotations

from clearft.messages import Message

# The chain-of-thought template that diversifies the consistency samples (paper).
COT_TEMPLATE = (
    "Please strictly use the following template to provide answer: "
    "explanation: [insert step-by-step analysis], answer: [provide your answer]"
)

REFLECTION_QUESTIONS = (
    "Is the proposed answer:",
    "Are you really sure the proposed answer is correct? Choose again:",
)
REFLECTION_CHOICES = "(A) Correct (B) Incorrect (C) I am not sure."
# Explanation first (paper) when the letter is sampled; letter first when its probability
# is read from the first token after the prefix "answer:" (the explanation then follows).
_EXPLAIN_THEN_ANSWER = (
    "explanation: [insert analysis], answer: [choose one letter from among choices A through C]"
)
_ANSWER_THEN_EXPLAIN = (
    "answer: [choose one letter from among choices A through C], explanation: [insert analysis]"
)
# No space after the colon: the tokenizer's letter and digit tokens carry their leading space
# (" B", " 4"), so after "answer: " the default model puts its mass on digits and newlines
# instead of the letters (measured by the Auto-Correct judge; shared with it).
ANSWER_PREFIX = "answer:"
RATING_PREFIX = "rating: "  # measured: ratings parse reliably after the space (the real judge-rating test)


def _with_last_user(messages: list[Message], content: str) -> list[Message]:
    """A copy of `messages` whose last user turn is replaced by `content`."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m["role"] == "user":
            m["content"] = content
            return out
    return [*out, {"role": "user", "content": content}]


def _last_user(messages: list[Message]) -> str:
    for m in reversed(messages):
        if m["role"] == "user":
            return m["content"]
    return ""


def sample_messages(messages: list[Message]) -> list[Message]:
    """The prompt for a consistency sample: the CoT template, then the question."""
    return _with_last_user(messages, f"{COT_TEMPLATE}\n\nQuestion: {_last_user(messages)}")


def reflection_messages(
    question: str, answer: str, round_index: int, letter_first: bool = False
) -> list[Message]:
    """Self-reflection round `round_index` (0-based) about the proposed answer."""
    ask = REFLECTION_QUESTIONS[min(round_index, len(REFLECTION_QUESTIONS) - 1)]
    template = _ANSWER_THEN_EXPLAIN if letter_first else _EXPLAIN_THEN_ANSWER
    text = (
        f"Question: {question}, Proposed Answer: {answer}. {ask} {REFLECTION_CHOICES} "
        f"The output should strictly use the following template: {template}"
    )
    return [{"role": "user", "content": text}]


def judge_rating_messages(instruction: str, response: str) -> list[Message]:
    """AlpaGasus-style quality rating of one example on a 1-5 scale, rating first."""
    text = (
        "We would like to request your feedback on the performance of the AI assistant in "
        "response to the instruction displayed below.\n\n"
        f"Instruction: {instruction}\n\nResponse: {response}\n\n"
        "Please rate the accuracy of the response to the instruction on a scale of 1 to 5, "
        "where a higher score indicates a higher level of accuracy. The output should strictly "
        "use the following template: rating: [a number from 1 to 5], explanation: [insert analysis]"
    )
    return [{"role": "user", "content": text}]


# The prompt under which the target is scored without its question (IFD's PPL(y)).
EMPTY_PROMPT: list[Message] = [{"role": "user", "content": ""}]
