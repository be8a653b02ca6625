"""Prompts of the Auto-Correct judge (pure functions; parsing lives in parsing.py).

The judge sees the prompt and two responses, labelled (A) and (B), and is asked which is
better in the template style of BSDetector's self-reflection (SPEC 1 and 2.4). Every
comparison is asked in both orders, so a judge that always says "A" cancels out.
"""

from __future__ import annotations

from clearft.messages import Message
from clearft.scoring.prompts import ANSWER_PREFIX as SCORING_ANSWER_PREFIX

# The two orders in which a pair is shown. The candidate is response B in the first, A in the second.
ORIGINAL_FIRST = "original_first"
CANDIDATE_FIRST = "candidate_first"
ORDERS = (ORIGINAL_FIRST, CANDIDATE_FIRST)

TEMPLATE = (
    "The output should strictly use the following template: explanation: [insert analysis], "
    "answer: [choose one letter from among choices A through C]"
)
# The same prefix as self-reflection (no space after the colon; see scoring.prompts).
ANSWER_PREFIX = SCORING_ANSWER_PREFIX


def ordered_pair(original: str, candidate: str, order: str) -> tuple[str, str]:
    """(response A, response B) for one order."""
    if order == ORIGINAL_FIRST:
        return original, candidate
    if order == CANDIDATE_FIRST:
        return candidate, original
    raise ValueError(f"unknown order {order!r}")


def candidate_letter(order: str) -> str:
    """The letter under which the candidate appears in `order`."""
    return "B" if order == ORIGINAL_FIRST else "A"


def _pair_text(question: str, response_a: str, response_b: str) -> str:
    return f"Question: {question}\nResponse (A): {response_a}\nResponse (B): {response_b}\n"


def judge_messages(question: str, original: str, candidate: str, order: str) -> list[Message]:
    """Ask which of the two responses is better."""
    a, b = ordered_pair(original, candidate, order)
    text = (
        _pair_text(question, a, b)
        + "Which response is better? (A) Response A (B) Response B (C) I am not sure. "
        + TEMPLATE
    )
    return [{"role": "user", "content": text}]


def reflection_messages(question: str, original: str, candidate: str, order: str) -> list[Message]:
    """Self-reflection on the verdict "the candidate is better" (BSDetector's S, for a judge)."""
    a, b = ordered_pair(original, candidate, order)
    letter = candidate_letter(order)
    text = (
        _pair_text(question, a, b)
        + f"Proposed judgment: Response ({letter}) is better than the other response. "
        + "Is the proposed judgment: (A) Correct (B) Incorrect (C) I am not sure. "
        + TEMPLATE
    )
    return [{"role": "user", "content": text}]
