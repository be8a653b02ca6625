"""One label-space rule (scoring/label_space.py): scoring's "auto", cross-fit and Auto-Correct
give a file the same answer to "are the targets labels?", small files included."""

from __future__ import annotations

import pytest

from clearft.correction import estimate
from clearft.correction.candidates import label_set as candidate_labels
from clearft.correction.correct import resolve_judge
from clearft.data.example import Example
from clearft.scoring.config import ScoreConfig
from clearft.scoring.crossfit import label_set as crossfit_labels
from clearft.scoring.engine import resolve_method
from clearft.scoring.label_space import MIN_ROWS, class_space, label_of, looks_like_labels


def rows(n: int, targets: tuple[str, ...] = ("positive", "negative")) -> list[Example]:
    return [Example(str(i), [{"role": "user", "content": f"Is text {i} positive or negative?"}],
                    targets[i % len(targets)]) for i in range(n)]


def answers(examples: list[Example]) -> dict[str, bool]:
    """Each component's answer to "are these targets labels?"."""
    responses = [ex.response for ex in examples]
    return {
        "score --method auto": resolve_method(ScoreConfig(method="auto"), examples) == "embedding-classifier",
        "cross-fit": crossfit_labels(responses) is not None,
        "correct --judge auto": resolve_judge("auto", examples) == "evidence",
        "candidates within labels": candidate_labels(responses) is not None,
        "classifier view": estimate._classifier_plan(len(examples))[0] > 0,
    }


@pytest.mark.parametrize("n", [MIN_ROWS - 4, MIN_ROWS - 1, MIN_ROWS, MIN_ROWS + 6])
def test_a_file_gets_the_same_answer_everywhere(n: int) -> None:
    got = answers(rows(n))
    assert set(got.values()) == {n >= MIN_ROWS}, got


def test_free_text_targets_are_labels_nowhere() -> None:
    examples = rows(30, tuple(f"a worked answer number {i} with a few more words" for i in range(30)))
    got = answers(examples)
    assert not any(v for k, v in got.items() if k != "classifier view"), got


def test_choice_letters_count_by_the_class_they_stand_for() -> None:
    def mc(i: int, letter: str, options: list[str]) -> Example:
        listed = "\n".join(f"{chr(65 + j)}. {o}" for j, o in enumerate(options))
        return Example(str(i), [{"role": "user", "content": f"Question {i}\n{listed}"}], letter)

    # FPB-like: "B" is always "positive", a class; ARC-like: every question has its own options.
    fpb = [mc(i, "AB"[i % 2], ["negative", "positive"]) for i in range(12)]
    arc = [mc(i, "AB"[i % 2], [f"answer {i}a", f"answer {i}b"]) for i in range(12)]
    assert class_space(fpb) == {"negative", "positive"} and label_of(fpb[1]) == "positive"
    assert class_space(arc) is None
    # As written, both are a closed set of letters (cross-fit normalises over them).
    assert crossfit_labels([ex.response for ex in arc]) == ["A", "B"]


def test_the_rule_stops_at_too_many_values() -> None:
    assert looks_like_labels([f"v{i % 6}" for i in range(20)], max_values=6)
    assert not looks_like_labels([f"v{i % 6}" for i in range(20)], max_values=5)
